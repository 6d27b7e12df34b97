"""A workspace of pre-existing files (data, prompts, a user's folder, an earlier run, hostile files) shared by the
bad-input corpus, and the hashes that prove no case touched them."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

SHA = "0" * 64


def tree_hashes(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _clip(path: Path, frames: int = 5, size: int = 16) -> None:
    from vgen.io.video import write_video

    video = np.zeros((frames, size, size, 3), dtype=np.uint8)
    for t in range(frames):
        video[t, 4:8, t:t + 4] = (230, 25, 25)
    write_video(path, video, fps=8)


def _records(**over) -> str:
    rec = {"path": "clip0.mp4", "fps": 8, "width": 16, "height": 16, "frames": 5, "caption": "a red square"}
    rec.update(over)
    return json.dumps(rec) + "\n"


def build(w: Path) -> Path:
    (w / "data").mkdir(parents=True)
    _clip(w / "data" / "clip0.mp4")
    _clip(w / "data" / "clip1.mp4")
    (w / "data" / "manifest.jsonl").write_text(_records() + _records(path="clip1.mp4"))
    (w / "prompts.txt").write_text("a red circle moving left\n")
    (w / "binary.bin").write_bytes(bytes(range(256)) * 8)
    (w / "nul.txt").write_bytes(b"a red circle\x00\x00moving left\n")
    (w / "bad_seed.jsonl").write_text(json.dumps({"prompt": "a red circle", "seed": -1}) + "\n")
    (w / "bad_json.jsonl").write_text("{not json\n")
    (w / "afile.txt").write_text("just a file\n")
    (w / "recipe_binary.toml").write_bytes(b"\xff\xfe[train]\x00")
    (w / "recipe_types.toml").write_text("[train]\nlr = \"lots\"\n")
    # a user's own folder: never replaced, never written into without --overwrite
    user = w / "user"
    user.mkdir()
    (user / "notes.txt").write_text("my notes\n")
    (user / "manifest.jsonl").write_text(_records(caption="my own careful caption"))
    # hostile manifests
    for name, text in {"escape": _records(path="../afile.txt"), "zero": _records(width=0),
                       "nan": _records(fps=float("nan")).replace("NaN", "NaN"), "types": _records(frames="many"),
                       "list": "[1, 2, 3]\n", "empty_line": "\n\n"}.items():
        (w / f"m_{name}").mkdir()
        (w / f"m_{name}" / "manifest.jsonl").write_text(text)
    (w / "m_binary").mkdir()
    (w / "m_binary" / "manifest.jsonl").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    # an earlier training run (marker, checkpoint, metrics, final weights)
    run = w / "run_old"
    (run / "checkpoints" / "step-0000004").mkdir(parents=True)
    (run / "checkpoints" / "step-0000004" / "state.json").write_text(json.dumps({"step": 4, "run": "old"}))
    (run / "metrics.jsonl").write_text(json.dumps({"step": 4, "loss": 0.5}) + "\n")
    (run / "final").mkdir()
    (run / "final" / "config.json").write_text("{}\n")
    (run / ".vgen-output").write_text(json.dumps({"command": "train run", "run": "old"}) + "\n")
    # crafted engine folders
    engines = {
        "e_list": {"format": "onnx", "parts": []},
        "e_escape": {"format": "onnx", "dtype": "fp32", "parts": {"dit": {
            "name": "dit", "inputs": [], "files": {"../afile.txt": {"bytes": 12, "sha256": SHA}}}}},
        "e_types": {"format": "onnx", "parts": {"dit": {"name": "dit", "inputs": "x", "files": {}}}},
        "e_bytes": {"format": "onnx", "parts": {"dit": {"name": "dit", "inputs": [],
                                                         "files": {"dit.onnx": {"bytes": "lots", "sha256": SHA}}}}},
        "e_unknown": {"format": "nonesuch", "parts": {}},
    }
    for name, manifest in engines.items():
        (w / name).mkdir()
        (w / name / "vgen-engine.json").write_text(json.dumps(manifest))
    (w / "e_binary").mkdir()
    (w / "e_binary" / "vgen-engine.json").write_bytes(bytes(range(256)))
    # weights folders that lie
    (w / "w_binary").mkdir()
    (w / "w_binary" / "model_index.json").write_bytes(bytes(range(256)))
    (w / "w_binary" / "config.json").write_bytes(bytes(range(256)))
    # hand-edited eval reports and sidecars
    good = {"videos": [{"video": "000-a.mp4", "prompt": "a red circle", "n_objects": 1, "colour": True, "shape": True,
                        "size": True, "motion": True, "all_correct": True}]}
    (w / "report_good.json").write_text(json.dumps(good))
    bad = json.loads(json.dumps(good))
    bad["videos"][0]["colour"] = "yes"
    (w / "report_types.json").write_text(json.dumps(bad))
    (w / "report_list.json").write_text(json.dumps({"videos": {"a": 1}}))
    (w / "report_nan.json").write_text('{"videos": [{"video": NaN}]}')
    (w / "sidecar_bad.json").write_text(json.dumps({"prompt": 3, "settings": {"guidance": "nan"}}))
    (w / "sidecar_nan.json").write_text('{"prompt": "a red circle", "settings": {"guidance": NaN}}')
    (w / "lora_bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    _lying_weights(w)
    (w / "inputs").mkdir()
    _clip(w / "inputs" / "v.mp4")
    (w / "user_videos").mkdir()
    _clip(w / "user_videos" / "v.mp4")  # the user's own video of the same name
    return w


def _lying_weights(w: Path) -> None:
    """Copies of a tiny default-model folder whose transformer config or weights lie."""
    import shutil

    import torch

    from vgen import plugins, registry

    plugins.load_plugins()
    pipe = registry.get("pipeline", "shapes").factory(weights=None, config="tiny", device=torch.device("cpu"),
                                                       dtype=torch.float32)
    pipe.save(w / "w_ok")
    config = json.loads((w / "w_ok" / "transformer" / "config.json").read_text())
    damage = {"w_type": json.dumps({**config, "in_channels": "four"}),
              "w_negative": json.dumps({**config, "in_channels": -3}),
              "w_nan": json.dumps({**config, "rope_theta": float("nan")}),
              "w_list": "[1, 2]", "w_config_binary": bytes(range(256))}
    for name, text in {**damage, "w_weights": None}.items():
        shutil.copytree(w / "w_ok", w / name)
        target = w / name / "transformer" / "config.json"
        if text is None:
            target = next((w / name / "transformer").glob("*.safetensors"))
            text = b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}"
        target.write_bytes(text if isinstance(text, bytes) else text.encode())
    shutil.rmtree(w / "w_ok")


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    w = build(tmp_path_factory.mktemp("safety"))
    return w, tree_hashes(w)
