"""Each class of user mistake ends with exit 2 and one stderr line; an internal failure with exit 1."""

import os
import subprocess
import sys
import textwrap

import pytest


def _vgen(args, cwd, env_extra=None):
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "vgen", *args], capture_output=True, text=True, cwd=cwd, env=env)


def _one_line(res, code):
    assert res.returncode == code, (res.returncode, res.stderr)
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    assert "Traceback" not in res.stderr
    return lines[0]


def test_missing_file(tmp_path):
    assert "not found" in _one_line(_vgen(["info", "nope.mp4"], tmp_path), 2)


def test_corrupt_video(tmp_path):
    (tmp_path / "bad.mp4").write_bytes(b"not a video at all" * 50)
    assert "bad.mp4" in _one_line(_vgen(["info", "bad.mp4"], tmp_path), 2)


def test_bad_recipe(tmp_path):
    (tmp_path / "r.toml").write_text('device = 3\n')
    line = _one_line(_vgen(["recipes", "show", "r.toml"], tmp_path), 2)
    assert "r.toml" in line and "device" in line


def test_unknown_recipe_lists_known(tmp_path):
    assert "known:" in _one_line(_vgen(["recipes", "show", "no-such-recipe"], tmp_path), 2)


def test_usage_error(tmp_path):
    _one_line(_vgen(["no-such-command"], tmp_path), 2)


@pytest.mark.parametrize("debug", [False, True])
def test_internal_error_exit_1_and_debug_traceback(tmp_path, debug):
    pdir = tmp_path / "p"
    pdir.mkdir()
    (pdir / "crashy.py").write_text(textwrap.dedent('''
        from vgen.hookspecs import hookimpl
        @hookimpl
        def register_commands(app):
            @app.command("crash")
            def crash():
                raise RuntimeError("internal bug")
    '''))
    res = _vgen((["--debug"] if debug else []) + ["crash"], tmp_path, {"VGEN_PLUGINS_DIR": str(pdir)})
    if debug:
        assert res.returncode == 1 and "Traceback" in res.stderr
    else:
        assert "internal bug" in _one_line(res, 1)
