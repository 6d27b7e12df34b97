"""Third-party plugins load from an entry point and from the plugins folder; a broken one, a name registered twice
and a misspelled hook are each reported in one line, and the CLI still works."""

import json
import os
import subprocess
import sys
import textwrap

PLUGIN = textwrap.dedent('''
    from vgen.hookspecs import hookimpl

    class EchoSampler:
        pass

    @hookimpl
    def register_samplers(register):
        register("{name}-sampler", EchoSampler, description="a test sampler")

    @hookimpl
    def register_commands(app):
        @app.command("{name}-hello")
        def hello():
            print("hello from {name}")
''')


def _vgen(args, env_extra, cwd):
    env = {**os.environ, **env_extra}
    return subprocess.run([sys.executable, "-m", "vgen", *args], capture_output=True, text=True, env=env, cwd=cwd)


def _make_entry_point_package(root, name):
    """A package installed the way pip installs one: its module plus a dist-info with entry_points.txt."""
    (root / f"{name}.py").write_text(PLUGIN.format(name=name))
    dist = root / f"{name}-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[vgen]\n{name} = {name}\n")


def test_entry_point_and_dir_plugins_listed(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _make_entry_point_package(site, "vgen_ep_demo")
    pdir = tmp_path / "plugins"
    pdir.mkdir()
    (pdir / "dirdemo.py").write_text(PLUGIN.format(name="dirdemo"))
    env = {"PYTHONPATH": str(site), "VGEN_PLUGINS_DIR": str(pdir), "VGEN_LOAD_PLUGINS": "vgen_ep_demo"}
    res = _vgen(["plugins", "--json"], env, tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    by_name = {p["plugin"]: p for p in data["plugins"]}
    assert by_name["vgen_ep_demo"]["source"].startswith("entry point")
    assert {"kind": "sampler", "name": "vgen_ep_demo-sampler", "description": "a test sampler"} in \
        by_name["vgen_ep_demo"]["backends"]
    assert by_name["dirdemo"]["source"].startswith("dir:")
    assert any(b["name"] == "dirdemo-sampler" for b in by_name["dirdemo"]["backends"])
    # built-in commands register through the same hook; each plugin's commands are listed with it
    assert by_name["vgen.cli.doctor"]["source"] == "built-in" and by_name["vgen.cli.doctor"]["commands"] == ["doctor"]
    assert by_name["vgen_ep_demo"]["commands"] == ["vgen_ep_demo-hello"]
    assert "vgen.cli.groups" not in by_name  # a helper module, no commands
    # the plugins' commands work
    assert _vgen(["dirdemo-hello"], env, tmp_path).stdout.strip() == "hello from dirdemo"
    assert _vgen(["vgen_ep_demo-hello"], env, tmp_path).stdout.strip() == "hello from vgen_ep_demo"
    # the table form names them too
    table = _vgen(["plugins"], env, tmp_path).stdout
    assert "vgen_ep_demo" in table and "dirdemo-sampler" in table


def test_load_plugins_restricts(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _make_entry_point_package(site, "vgen_ep_a")
    _make_entry_point_package(site, "vgen_ep_b")
    env = {"PYTHONPATH": str(site), "VGEN_LOAD_PLUGINS": "vgen_ep_b"}
    data = json.loads(_vgen(["plugins", "--json"], env, tmp_path).stdout)
    names = {p["plugin"] for p in data["plugins"]}
    assert "vgen_ep_b" in names and "vgen_ep_a" not in names
    assert "vgen.cli.doctor" in names  # built-ins always load


def test_broken_plugins_reported_cli_still_works(tmp_path):
    pdir = tmp_path / "plugins"
    pdir.mkdir()
    (pdir / "broken_import.py").write_text("import no_such_module_xyz\n")
    (pdir / "broken_register.py").write_text(textwrap.dedent('''
        from vgen.hookspecs import hookimpl
        @hookimpl
        def register_samplers(register):
            raise RuntimeError("boom in register")
    '''))
    env = {"VGEN_PLUGINS_DIR": str(pdir)}
    res = _vgen(["plugins"], env, tmp_path)
    assert res.returncode == 0
    lines = res.stderr.strip().splitlines()
    assert any("broken_import" in ln and "no_such_module_xyz" in ln for ln in lines)
    assert any("broken_register" in ln and "boom in register" in ln for ln in lines)
    assert "Traceback" not in res.stderr
    assert _vgen(["doctor", "--json"], env, tmp_path).returncode == 0


def _dir_plugin(tmp_path, name, body):
    pdir = tmp_path / "plugins"
    pdir.mkdir(exist_ok=True)
    (pdir / f"{name}.py").write_text("from vgen.hookspecs import hookimpl\n" + textwrap.dedent(body))
    return {"VGEN_PLUGINS_DIR": str(pdir)}


def test_a_name_registered_twice_is_refused_unless_overridden(tmp_path):
    env = _dir_plugin(tmp_path, "clash", """
        @hookimpl
        def register_samplers(register):
            register("flow-euler", object, description="a second flow-euler")
            register("flow-heun", object, override=True, description="my heun")
    """)
    res = _vgen(["plugins", "--json"], env, tmp_path)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    backends = {(b["name"], r["plugin"]): b for r in data["plugins"] for b in r["backends"] if b["kind"] == "sampler"}
    assert ("flow-euler", "vgen_plugins.samplers") in backends  # the first stays
    assert ("flow-euler", "clash") not in backends
    assert backends[("flow-heun", "clash")]["overrides"] == "vgen_plugins.samplers"  # the override wins
    assert ("flow-heun", "vgen_plugins.samplers") not in backends
    [line] = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert "'clash'" in line and "'flow-euler'" in line and "'vgen_plugins.samplers'" in line
    assert "overrides vgen_plugins.samplers" in _vgen(["plugins"], env, tmp_path).stdout
    # any command reports it in the same one line, and still works
    other = _vgen(["recipes", "list"], env, tmp_path)
    assert other.returncode == 0
    assert [ln for ln in other.stderr.splitlines() if ln.strip()] == [line]


def test_unknown_hooks_are_reported_in_one_line(tmp_path):
    env = _dir_plugin(tmp_path, "typo", """
        @hookimpl
        def register_sampler(register):
            register("typo-sampler", object)

        def register_schedules(register):  # not marked: pluggy would skip it silently
            register("typo-schedule", object)

        def register_everything():  # a helper that looks like no hook is fine
            pass

        @hookimpl
        def register_pipelines(register):
            register("typo-pipeline", object)
    """)
    res = _vgen(["plugins", "--json"], env, tmp_path)
    assert res.returncode == 0, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "'typo'" in lines[0] and "register_sampler (did you mean register_samplers?)" in lines[0]
    assert "register_schedules (not marked @hookimpl)" in lines[0] and "register_everything" not in lines[0]
    row = next(r for r in json.loads(res.stdout)["plugins"] if r["plugin"] == "typo")
    assert [b["name"] for b in row["backends"]] == ["typo-pipeline"]  # its real hooks still work
    assert len(row["failures"]) == 1
