"""A real third-party plugin package, found through its entry point in group ``vgen`` (a generated dist-info on
PYTHONPATH, as pip would install it), registers a sampler, a curation stage and an exporter with its runtime; each is
used through the CLI like a built-in one."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

NAME = "thirdparty"  # the entry point's name (what VGEN_LOAD_PLUGINS names)
MODULE = "vgen_thirdparty_demo"

PLUGIN = textwrap.dedent('''
    """A plugin written from docs/plugins.md: only vgen.contract and vgen.hookspecs are imported from vgen."""

    import os

    from vgen.contract import ExporterBase, FlowSampler
    from vgen.hookspecs import hookimpl


    class Midpoint(FlowSampler):
        """Explicit midpoint (RK2): two model calls per step."""

        name = "my-sampler"
        order = 2

        def model_calls(self, sigmas):
            return 2 * (len(sigmas) - 1)

        def step(self, velocity, x, sigma, sigma_next, state, constrain):
            h = sigma_next - sigma
            mid = constrain(x + 0.5 * h * velocity(x, sigma))
            return x + h * velocity(mid, (sigma + sigma_next) / 2)


    class MeanLuma:
        """A clip stage: scores each candidate clip by its mean luma, labels it, rejects nothing."""

        def __init__(self, settings):
            self.settings = settings

        def __call__(self, clip):
            clip.scores["my_luma"] = float(clip.frames.mean()) / 255.0
            clip.labels["my_stage"] = "seen"


    class ProgramRuntime:
        """Runs a saved torch.export program (eagerly, no compile)."""

        provider = "torch-export-eager"

        def __init__(self, path):
            import torch

            self.module = torch.export.load(str(path)).module()

        def __call__(self, tensors):
            import torch

            with open(os.environ["MY_FORMAT_LOG"], "a") as log:  # the test counts the calls
                log.write("call\\n")
            with torch.no_grad():
                return self.module(*tensors)


    class ProgramFormat(ExporterBase):
        """Each part as a torch.export program (``.pt2``) with its changing axes symbolic."""

        name = "my-format"

        def export(self, part, example, folder, options):
            import torch

            dim = torch.export.Dim.DYNAMIC(min=1)
            axes = tuple({axis: dim for axis in dims} for dims in part.dynamic_axes())
            program = torch.export.export(part.module.eval(), tuple(example), dynamic_shapes=(axes,))
            torch.export.save(program, str(folder / f"{part.name}.pt2"))
            return [f"{part.name}.pt2"]

        def runtime(self, folder, part, device):
            return ProgramRuntime(folder / f"{part['name']}.pt2")


    @hookimpl
    def register_exporters(register):
        register("my-format", ProgramFormat, description="torch.export programs run eagerly")


    @hookimpl
    def register_samplers(register):
        register("my-sampler", Midpoint, order=2, description="midpoint (RK2), 2 model calls per step")


    @hookimpl
    def register_curation_stages(register):
        register("my-stage", MeanLuma, kind="clip", description="mean luma score")
''')


def _install(site):
    """The plugin as pip installs it: the package plus ``<name>-0.1.dist-info`` with METADATA and entry_points.txt."""
    package = site / MODULE
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(PLUGIN)
    dist = site / f"{MODULE}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {MODULE}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[vgen]\n{NAME} = {MODULE}\n")


@pytest.fixture(scope="module")
def vgen(tmp_path_factory):
    root = tmp_path_factory.mktemp("thirdparty")
    _install(root / "site")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "site"), os.environ.get("PYTHONPATH", "")]),
           "VGEN_LOAD_PLUGINS": NAME, "MY_FORMAT_LOG": str(root / "runtime-calls.log")}

    def run(*args):
        res = subprocess.run([sys.executable, "-m", "vgen", *map(str, args)], capture_output=True, text=True,
                             env=env, cwd=root)
        assert res.returncode == 0, res.stderr
        assert "warning:" not in res.stderr, res.stderr  # no plugin failure
        return res

    run.root = root
    return run


def test_listed_from_its_entry_point(vgen):
    data = json.loads(vgen("plugins", "--json").stdout)
    row = next(r for r in data["plugins"] if r["plugin"] == NAME)
    assert row["source"] == f"entry point:{MODULE}" and row["failures"] == [] and data["failures"] == []
    assert {(b["kind"], b["name"]) for b in row["backends"]} == {("sampler", "my-sampler"),
                                                                  ("curation_stage", "my-stage"),
                                                                  ("exporter", "my-format")}


def test_sample_with_the_plugins_sampler(vgen):
    out = vgen.root / "videos"
    res = vgen("sample", "a red ball", "--pipeline", "hunyuan-video", "--config", "tiny", "--steps", 2,
               "--frames", 5, "--height", 32, "--width", 32, "--sampler", "my-sampler", "--out", out, "--json")
    sidecar = json.loads((vgen.root / json.loads(res.stdout)["sidecar"]).read_text())
    assert sidecar["sampler"] == "my-sampler"
    assert sidecar["model_calls"] == 4  # the midpoint's two calls a step (Euler makes 2, Heun 3)
    assert (vgen.root / json.loads(res.stdout)["video"]).stat().st_size > 0


def test_curate_with_the_plugins_stage(vgen):
    from vgen.curate.synthetic import Scene, write_scenes

    inp = vgen.root / "raw"
    inp.mkdir()
    write_scenes(inp / "a.mp4", [Scene(3.5, "pan right", 1)], 10, 96, 64)
    recipe = vgen.root / "curate.toml"
    recipe.write_text('[curate]\nstages = ["probe", "shots", "cut", "my-stage"]\n')
    vgen("curate", inp, "--out", vgen.root / "clips", "--recipe", recipe, "--min-duration", 2, "--min-side", 32)
    records = [json.loads(line) for line in (vgen.root / "clips" / "manifest.jsonl").read_text().splitlines()]
    kept = [r for r in records if r["status"] == "kept"]
    assert kept and all(r["labels"]["my_stage"] == "seen" and 0 < r["scores"]["my_luma"] < 1 for r in kept)


def test_export_with_the_plugins_format_and_sample_on_its_runtime(vgen):
    engine = vgen.root / "engine"
    vgen("export", "my-format", "--pipeline", "hunyuan-video", "--config", "tiny", "--parts", "dit", "--out", engine)
    manifest = json.loads((engine / "vgen-engine.json").read_text())
    assert manifest["format"] == "my-format" and list(manifest["parts"]) == ["dit"]
    assert (engine / "dit.pt2").is_file() and "torch-export-eager" in json.dumps(manifest)  # the gate ran it
    log = vgen.root / "runtime-calls.log"
    gate_calls = len(log.read_text().splitlines())
    res = vgen("sample", "a red ball", "--pipeline", "hunyuan-video", "--config", "tiny", "--steps", 2,
               "--frames", 5, "--height", 32, "--width", 32, "--engine", "my-format", "--engine-dir", engine,
               "--out", vgen.root / "engine-videos", "--json")
    sidecar = json.loads((vgen.root / json.loads(res.stdout)["sidecar"]).read_text())
    assert sidecar["settings"]["engine"] == "my-format"
    assert len(log.read_text().splitlines()) - gate_calls == 2  # the runtime ran the DiT at each of the 2 steps
