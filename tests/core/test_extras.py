"""Issue 33: extras that install together (one OpenCV, one onnxruntime), dev built from the others, nothing unused;
``vgen doctor`` names the extra a missing feature needs."""

import re
import tomllib
from pathlib import Path

from vgen.cli import doctor

ROOT = Path(__file__).parents[2]
# package -> the module the code imports (tests included: diffusers and pytest are what tests run on)
MODULES = {"scenedetect": "scenedetect", "opencv-python-headless": "cv2", "peft": "peft",
           "tensorboard": r"torch\.utils\.tensorboard", "onnx": "onnx", "onnxruntime": "onnxruntime", "onnxscript": "onnxscript", "tensorrt": "tensorrt",
           "ray": "ray", "diffusers": "diffusers", "pytest": "pytest"}


def _extras() -> dict[str, list[str]]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~;\s]", requirement, maxsplit=1)[0].lower()


def _expand(extra: str, extras: dict) -> set[str]:
    out = set()
    for req in extras[extra]:
        if _name(req) == "vgen":
            for inner in re.search(r"\[(.*)\]", req).group(1).split(","):
                out |= _expand(inner.strip(), extras)
        else:
            out.add(req)
    return out


def test_extras_install_together_and_dev_is_built_from_the_others():
    extras = _extras()
    assert all(_name(r) == "vgen" for r in extras["dev"])  # only self-references
    everything = set().union(*(_expand(e, extras) for e in extras))
    names = {_name(r) for r in everything}
    assert sorted(n for n in names if "opencv" in n) == ["opencv-python-headless"]
    assert sorted(n for n in names if n.startswith("onnxruntime")) == ["onnxruntime"]
    # scenedetect without the GUI OpenCV: its opencv-headless extra, on the line that has it
    (scenedetect,) = [r for r in everything if _name(r) == "scenedetect"]
    assert "[opencv-headless]" in scenedetect and "<0.7" in scenedetect


def test_every_extra_package_is_used():
    sources = "\n".join(p.read_text(errors="ignore") for d in ("vgen", "plugins", "export", "tests")
                        for p in (ROOT / d).rglob("*.py"))
    for extra, reqs in _extras().items():
        for req in reqs:
            name = _name(req)
            if name in ("vgen", "ruff"):
                continue
            module = MODULES[name]
            assert re.search(rf"(import|from) {module}\b", sources), f"{extra}: {name} is not imported anywhere"


def test_doctor_names_the_extra_of_what_is_missing():
    row = doctor._check("ray", "vgen curate --engine ray", lambda: __import__("no_such_module_xyz"), "distributed")
    assert not row["ok"] and row["extra"] == "distributed" and row["install"] == "pip install 'vgen[distributed]'"
    rows = {r["item"]: r for r in doctor.checks()}
    assert rows["scenedetect"]["extra"] == "curate" and rows["peft"]["extra"] == "train"
    assert rows["exporter onnx"]["extra"] == "export" and rows["exporter tensorrt"]["extra"] == "gpu"
    assert all(r["install"] is None for r in rows.values() if r["ok"])
    assert set(doctor.FORMAT_EXTRAS.values()) <= set(_extras())
    assert {r["extra"] for r in rows.values() if r["extra"]} <= set(_extras())
