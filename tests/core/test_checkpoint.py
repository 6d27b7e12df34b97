import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch

from vgen.errors import UserError
from vgen.io.checkpoint import load_into, load_state_dict, save_checkpoint, weight_files


def _state(n=6, dtype=torch.float32):
    g = torch.Generator().manual_seed(1)
    return {f"layers.{i}.weight": torch.randn(64, 32, generator=g).to(dtype) for i in range(n)}


@pytest.mark.parametrize("shard", ["10GB", 20_000])
def test_roundtrip_exact(tmp_path, shard):
    state = _state()
    save_checkpoint(tmp_path / "ckpt", state, {"hidden": 32}, max_shard_size=shard)
    files = weight_files(tmp_path / "ckpt")
    assert (len(files) > 1) == (shard == 20_000)
    if len(files) > 1:
        index = json.loads((tmp_path / "ckpt" / "diffusion_pytorch_model.safetensors.index.json").read_text())
        assert set(index["weight_map"]) == set(state)
    loaded = load_state_dict(tmp_path / "ckpt")
    assert loaded.keys() == state.keys()
    for k in state:
        assert torch.equal(loaded[k], state[k])


def test_load_into_meta_module_any_dtype(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Linear(4, 2))
    save_checkpoint(tmp_path / "m", model.state_dict(), max_shard_size=100)
    with torch.device("meta"):
        empty = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Linear(4, 2))
    load_into(empty, tmp_path / "m", dtype=torch.bfloat16)
    assert empty[0].weight.dtype == torch.bfloat16
    assert torch.equal(empty[1].bias, model[1].bias.bfloat16())


def test_missing_shard_and_bad_shape_name_the_file(tmp_path):
    model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.Linear(4, 2))
    save_checkpoint(tmp_path / "m", model.state_dict(), max_shard_size=100)
    other = torch.nn.Sequential(torch.nn.Linear(8, 5), torch.nn.Linear(5, 2))
    with pytest.raises(UserError, match=r"safetensors.*shape"):
        load_into(other, tmp_path / "m")
    shard = weight_files(tmp_path / "m")[1]
    shard.unlink()
    with pytest.raises(UserError, match=f"missing shard: .*{shard.name}"):
        load_into(model, tmp_path / "m")


def test_interrupted_write_keeps_previous_checkpoint(tmp_path):
    target = tmp_path / "ckpt"
    save_checkpoint(target, _state(), {"v": 1})
    # A second save that is killed while writing its (large) weights must leave the first intact.
    script = textwrap.dedent(f"""
        import torch, sys
        from vgen.io import checkpoint
        real = checkpoint.write_weights
        def slow(folder, *a, **k):
            (folder / "partial").write_text("x"); sys.stdout.write("writing\\n"); sys.stdout.flush()
            import time; time.sleep(60)
        checkpoint.write_weights = slow
        checkpoint.save_checkpoint({str(target)!r}, {{"a": torch.zeros(3)}}, {{"v": 2}}, replace=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert json.loads((target / "config.json").read_text()) == {"v": 1}
    assert load_state_dict(target).keys() == _state().keys()
    # and an exception mid-save also keeps it
    with pytest.raises(TypeError):
        save_checkpoint(target, {"a": torch.zeros(2)}, {"v": 3}, extra_files={"x": object()}, replace=True)  # type: ignore
    assert json.loads((target / "config.json").read_text()) == {"v": 1}


def test_atomic_writes_publish_plain_modes(tmp_path):
    """Atomic writes go through private temporaries (0600 files, 0700 folders); what they publish must be readable
    like any other file, or weights shipped in a package are unreadable for other users."""
    import os

    from vgen.io.atomic import atomic_dir, write_text

    mask = os.umask(0)
    os.umask(mask)
    write_text(tmp_path / "a.json", "{}")
    with atomic_dir(tmp_path / "folder") as tmp:
        write_text(tmp / "b.json", "{}")
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o777 & ~mask
    assert (tmp_path / "folder" / "b.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_saved_weights_are_readable(tmp_path):
    """safetensors 0.8 writes its files 0600; a saved checkpoint folder still publishes plain modes."""
    import os

    from vgen.io.checkpoint import save_checkpoint

    mask = os.umask(0)
    os.umask(mask)
    save_checkpoint(tmp_path / "ckpt", {"w": torch.zeros(3)}, {"v": 1})
    for path in [tmp_path / "ckpt", *(tmp_path / "ckpt").rglob("*")]:
        want = 0o777 if path.is_dir() else 0o666
        assert path.stat().st_mode & 0o777 == want & ~mask, path
