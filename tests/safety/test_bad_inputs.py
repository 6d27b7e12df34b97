"""The bad-input corpus: every subcommand given bad files, numbers, paths and occupied outputs must exit 2 with one
line on stderr, no traceback, and leave every pre-existing file as it was (the whole workspace is hashed).

Cases run in-process (vgen.cli.main), so the corpus costs one interpreter; cases that would do real work if their
check were missing are kept tiny (1 step, 16x16x5) so that a regression fails fast instead of hanging CI.
"""

import pytest
from conftest import tree_hashes

from vgen.cli import main

T = ["--steps", "1", "--frames", "5", "--height", "16", "--width", "16"]  # tiny, should a check be missing
S = ["sample", "a red circle moving left", "--config", "tiny", *T, "--out", "{w}/out_sample"]
TR = ["train", "run", "--out", "{w}/out_run"]
TC = ["train", "cache", "--data", "{w}/data"]
CU = ["curate", "{w}/inputs"]
EX = ["export", "onnx", "--config", "tiny"]
DS = ["datasets", "shapes", "-n", "1", "--size", "16", "--frames", "5"]

CASES = {
    # ---- sample: numbers
    "sample-guidance-nan": [*S, "--guidance", "nan"],
    "sample-guidance-inf": [*S, "--guidance", "inf"],
    "sample-guidance-huge": [*S, "--guidance", "1e308"],
    "sample-guidance-negative": [*S, "--guidance", "-1"],
    "sample-shift-nan": [*S, "--shift", "nan"],
    "sample-shift-zero": [*S, "--shift", "0"],
    "sample-embedded-guidance-nan": [*S, "--embedded-guidance", "nan"],
    "sample-fps-zero": [*S, "--fps", "0"],
    "sample-fps-negative": [*S, "--fps", "-1"],
    "sample-fps-nan": [*S, "--fps", "nan"],
    "sample-fps-inf": [*S, "--fps", "inf"],
    "sample-seed-2^64": [*S, "--seed", str(2**64)],
    "sample-seed-negative": [*S, "--seed", "-1"],
    "sample-seed-text": [*S, "--seed", "lots"],
    "sample-steps-zero": [*S, "--steps", "0"],
    "sample-steps-huge": [*S, "--steps", "10000000"],
    "sample-frames-zero": [*S, "--frames", "0"],
    "sample-frames-not-4k1": [*S, "--frames", "6"],
    "sample-frames-100001": [*S, "--frames", "100001"],
    "sample-401x1024x1024": [*S, "--frames", "401", "--height", "1024", "--width", "1024"],
    "sample-height-zero": [*S, "--height", "0"],
    "sample-width-negative": [*S, "--width", "-16"],
    "sample-batch-zero": [*S, "--batch-size", "0"],
    "sample-batch-huge": [*S, "--batch-size", "100000"],
    "sample-image-binary": [*S, "--image", "{w}/binary.bin"],
    "sample-image-text": [*S, "--image", "{w}/afile.txt"],
    "sample-interval-reversed": [*S, "--guidance-interval", "0.5,0.1"],
    "sample-vae-tiling": [*S, "--vae-tiling", "maybe"],
    "sample-attention-unknown": [*S, "--attention", "nope"],
    "sample-lora-scale-nan": [*S, "--lora-scale", "nan"],
    "sample-interval-nan": [*S, "--guidance-interval", "nan,1"],
    "sample-interval-text": [*S, "--guidance-interval", "a,b"],
    "sample-interval-range": [*S, "--guidance-interval", "0,7"],
    # ---- sample: names and devices
    "sample-device-mps": [*S, "--device", "mps"],
    "sample-device-cuda": [*S, "--device", "cuda"],
    "sample-device-tpu": [*S, "--device", "tpu"],
    "sample-device-garbage": [*S, "--device", "!!"],
    "sample-dtype-int8": [*S, "--dtype", "int8"],
    "sample-parallel-nope": [*S, "--parallel", "nope"],
    "sample-pipeline-unknown": [*S, "--pipeline", "nonesuch"],
    "sample-sampler-unknown": [*S, "--sampler", "nonesuch"],
    "sample-schedule-unknown": [*S, "--schedule", "nonesuch"],
    "sample-offload-unknown": [*S, "--offload", "disk"],
    "sample-engine-unknown": [*S, "--engine", "nonesuch"],
    # ---- sample: files
    "sample-prompts-binary": [*S, "--prompts", "{w}/binary.bin"],
    "sample-prompts-nul": [*S, "--prompts", "{w}/nul.txt"],
    "sample-prompts-missing": [*S, "--prompts", "{w}/nope.txt"],
    "sample-prompts-folder": [*S, "--prompts", "{w}/data"],
    "sample-prompts-jsonl-seed": [*S, "--prompts", "{w}/bad_seed.jsonl"],
    "sample-prompts-jsonl-json": [*S, "--prompts", "{w}/bad_json.jsonl"],
    "sample-from-missing": ["sample", "--from", "{w}/nope.json"],
    "sample-from-binary": ["sample", "--from", "{w}/binary.bin"],
    "sample-from-bad": ["sample", "--from", "{w}/sidecar_bad.json"],
    "sample-from-nan": ["sample", "--from", "{w}/sidecar_nan.json", "--out", "{w}/out_sample"],
    "sample-image-missing": [*S, "--image", "{w}/nope.png"],
    "sample-lora-missing": [*S, "--lora", "{w}/nope.safetensors"],
    "sample-weights-missing": [*S, "--weights", "{w}/nope"],
    "sample-weights-file": [*S, "--weights", "{w}/afile.txt"],
    "sample-weights-binary": [*S, "--weights", "{w}/w_binary"],
    "sample-weights-config-type": [*S, "--weights", "{w}/w_type"],
    "sample-weights-config-negative": [*S, "--weights", "{w}/w_negative"],
    "sample-weights-config-nan": [*S, "--weights", "{w}/w_nan"],
    "sample-weights-config-list": [*S, "--weights", "{w}/w_list"],
    "sample-weights-config-binary": [*S, "--weights", "{w}/w_config_binary"],
    "sample-weights-lying-safetensors": [*S, "--weights", "{w}/w_weights"],
    "sample-lora-lying-safetensors": [*S, "--lora", "{w}/lora_bad.safetensors"],
    "sample-lora-binary": [*S, "--lora", "{w}/binary.bin"],
    "train-weights-config-type": [*TR, "--data", "{w}/data", "--pipeline", "shapes", "--weights", "{w}/w_type"],
    "export-weights-config-binary": [*EX, "--pipeline", "shapes", "--weights", "{w}/w_config_binary",
                                     "--out", "{w}/out_engine"],
    "sample-engine-dir-list": [*S, "--engine", "onnx", "--engine-dir", "{w}/e_list"],
    "sample-engine-dir-escape": [*S, "--engine", "onnx", "--engine-dir", "{w}/e_escape"],
    "sample-engine-dir-types": [*S, "--engine", "onnx", "--engine-dir", "{w}/e_types"],
    "sample-engine-dir-bytes": [*S, "--engine", "onnx", "--engine-dir", "{w}/e_bytes"],
    "sample-engine-dir-binary": [*S, "--engine", "onnx", "--engine-dir", "{w}/e_binary"],
    "sample-engine-dir-unknown": [*S, "--engine", "nonesuch", "--engine-dir", "{w}/e_unknown"],
    "sample-engine-dir-missing": [*S, "--engine", "onnx", "--engine-dir", "{w}/nope"],
    "sample-recipe-missing": [*S, "--recipe", "{w}/nope.toml"],
    "sample-recipe-binary": [*S, "--recipe", "{w}/recipe_binary.toml"],
    # ---- sample: outputs
    "sample-out-file": ["sample", "a red circle", "--config", "tiny", *T, "--out", "{w}/afile.txt"],
    "sample-out-under-file": ["sample", "a red circle", "--config", "tiny", *T, "--out", "{w}/afile.txt/sub"],
    "sample-out-proc": ["sample", "a red circle", "--config", "tiny", *T, "--out", "/proc/vgen-out"],
    # ---- train run
    "train-existing-run": [*TR[:2], "--out", "{w}/run_old", "--data", "{w}/data"],
    "train-user-folder": [*TR[:2], "--out", "{w}/user", "--data", "{w}/data"],
    "train-out-is-data": [*TR[:2], "--out", "{w}/data", "--data", "{w}/data"],
    "train-out-file": [*TR[:2], "--out", "{w}/afile.txt", "--data", "{w}/data"],
    "train-stop-at-zero": [*TR, "--data", "{w}/data", "--stop-at", "0"],
    "train-stop-at-negative": [*TR, "--data", "{w}/data", "--stop-at", "-1"],
    "train-resume-and-overwrite": [*TR[:2], "--out", "{w}/run_old", "--resume", "auto", "--overwrite"],
    "train-resume-not-checkpoint": [*TR, "--data", "{w}/data", "--resume", "{w}/user"],
    "train-data-missing": [*TR, "--data", "{w}/nope"],
    "train-data-binary": [*TR, "--data", "{w}/m_binary"],
    "train-data-escape": [*TR, "--data", "{w}/m_escape"],
    "train-data-zero-width": [*TR, "--data", "{w}/m_zero"],
    "train-data-nan-fps": [*TR, "--data", "{w}/m_nan"],
    "train-data-types": [*TR, "--data", "{w}/m_types"],
    "train-data-list": [*TR, "--data", "{w}/m_list"],
    "train-data-empty": [*TR, "--data", "{w}/m_empty_line"],
    "train-set-lr-nan": [*TR, "--data", "{w}/data", "--set", "lr=NaN"],
    "train-set-lr-text": [*TR, "--data", "{w}/data", "--set", "lr=lots"],
    "train-set-betas": [*TR, "--data", "{w}/data", "--set", "betas=[2, 0.9]"],
    "train-set-eps-zero": [*TR, "--data", "{w}/data", "--set", "eps=0"],
    "train-set-seed-2^64": [*TR, "--data", "{w}/data", "--set", f"seed={2**64}"],
    "train-set-steps-negative": [*TR, "--data", "{w}/data", "--set", 'stages=[{"steps": -1}]'],
    "train-set-time-limit-nan": [*TR, "--data", "{w}/data", "--set", "time_limit_s=NaN"],
    "train-set-workers-negative": [*TR, "--data", "{w}/data", "--set", "data_workers=-1"],
    "train-set-unknown": [*TR, "--data", "{w}/data", "--set", "nonesuch=1"],
    "train-set-malformed": [*TR, "--data", "{w}/data", "--set", "lr"],
    "train-recipe-types": [*TR, "--data", "{w}/data", "--recipe", "{w}/recipe_types.toml"],
    "train-recipe-binary": [*TR, "--data", "{w}/data", "--recipe", "{w}/recipe_binary.toml"],
    "train-pipeline-unknown": [*TR, "--data", "{w}/data", "--pipeline", "nonesuch"],
    "train-distributed-unknown": [*TR, "--data", "{w}/data", "--distributed", "nope"],
    "train-bucket-8192": [*TR, "--data", "{w}/data", "--set", 'stages=[{"buckets": [[1, 8192, 8192]]}]'],
    "train-bucket-not-4k1": [*TR, "--data", "{w}/data", "--set", 'stages=[{"buckets": [[6, 64, 64]]}]'],
    "train-weights-missing": [*TR, "--data", "{w}/data", "--weights", "{w}/nope"],
    # ---- train cache
    "cache-out-is-data": [*TC, "--out", "{w}/data"],
    "cache-out-inside-data": [*TC, "--out", "{w}/data/cache"],
    "cache-out-user-folder": [*TC, "--out", "{w}/user"],
    "cache-out-file": [*TC, "--out", "{w}/afile.txt"],
    "cache-out-run": [*TC, "--out", "{w}/run_old"],
    "cache-data-binary": ["train", "cache", "--data", "{w}/m_binary", "--out", "{w}/out_cache"],
    "cache-data-escape": ["train", "cache", "--data", "{w}/m_escape", "--out", "{w}/out_cache"],
    # ---- curate
    "curate-out-is-input": [*CU, "--out", "{w}/inputs"],
    "curate-out-holds-input": [*CU, "--out", "{w}"],
    "curate-out-user-folder": [*CU, "--out", "{w}/user"],
    "curate-out-file": [*CU, "--out", "{w}/afile.txt"],
    "curate-input-missing": ["curate", "{w}/nope", "--out", "{w}/out_curate"],
    "curate-input-file": ["curate", "{w}/afile.txt", "--out", "{w}/out_curate"],
    "curate-min-duration-negative": [*CU, "--out", "{w}/out_curate", "--min-duration", "-1"],
    "curate-max-duration-zero": [*CU, "--out", "{w}/out_curate", "--max-duration", "0"],
    "curate-min-above-max": [*CU, "--out", "{w}/out_curate", "--min-duration", "9", "--max-duration", "3"],
    "curate-duration-nan": [*CU, "--out", "{w}/out_curate", "--min-duration", "nan"],
    "curate-workers-zero": [*CU, "--out", "{w}/out_curate", "--workers", "0"],
    "curate-workers-negative": [*CU, "--out", "{w}/out_curate", "-j", "-1"],
    "curate-min-side-zero": [*CU, "--out", "{w}/out_curate", "--min-side", "0"],
    "curate-detector-unknown": [*CU, "--out", "{w}/out_curate", "--detector", "nope"],
    "curate-engine-unknown": [*CU, "--out", "{w}/out_curate", "--engine", "nope"],
    # ---- export
    "export-out-user-folder": [*EX, "--out", "{w}/user"],
    "export-out-file": [*EX, "--out", "{w}/afile.txt"],
    "export-out-data": [*EX, "--out", "{w}/data"],
    "export-format-unknown": ["export", "nonesuch", "--config", "tiny", "--out", "{w}/out_engine"],
    "export-dtype": [*EX, "--dtype", "int8", "--out", "{w}/out_engine"],
    "export-tolerance-nan": [*EX, "--tolerance", "nan", "--out", "{w}/out_engine"],
    "export-part-unknown": [*EX, "--parts", "unet", "--out", "{w}/out_engine"],
    "export-shapes": [*EX, "--shapes", "frames=6;frames=9", "--out", "{w}/out_engine"],
    "export-device-mps": [*EX, "--device", "mps", "--out", "{w}/out_engine"],
    "export-opset": [*EX, "--opset", "5", "--out", "{w}/out_engine"],
    "export-weights-missing": [*EX, "--weights", "{w}/nope", "--out", "{w}/out_engine"],
    # ---- datasets
    "datasets-workers-negative": [*DS, "--out", "{w}/out_ds", "-w", "-1"],
    "datasets-seed-negative": [*DS, "--out", "{w}/out_ds", "--seed", "-1"],
    "datasets-seed-2^64": [*DS, "--out", "{w}/out_ds", "--seed", str(2**64)],
    "datasets-fps-zero": [*DS, "--out", "{w}/out_ds", "--fps", "0"],
    "datasets-fps-nan": [*DS, "--out", "{w}/out_ds", "--fps", "nan"],
    "datasets-size-odd": ["datasets", "shapes", "-n", "1", "--size", "15", "--out", "{w}/out_ds"],
    "datasets-size-huge": ["datasets", "shapes", "-n", "1", "--size", "100000", "--out", "{w}/out_ds"],
    "datasets-frames": ["datasets", "shapes", "-n", "1", "--frames", "4", "--out", "{w}/out_ds"],
    "datasets-num-negative": ["datasets", "shapes", "-n", "-1", "--out", "{w}/out_ds"],
    "datasets-fraction": [*DS, "--out", "{w}/out_ds", "--two-object-fraction", "2"],
    "datasets-out-file": [*DS, "--out", "{w}/afile.txt"],
    "datasets-out-user-folder": [*DS, "--out", "{w}/user"],
    "datasets-out-data": [*DS, "--out", "{w}/data"],
    # ---- eval
    "eval-shapes-missing": ["eval", "shapes", "{w}/nope"],
    "eval-compare-types": ["eval", "compare", "{w}/report_good.json", "{w}/report_types.json"],
    "eval-compare-list": ["eval", "compare", "{w}/report_good.json", "{w}/report_list.json"],
    "eval-compare-nan": ["eval", "compare", "{w}/report_nan.json", "{w}/report_good.json"],
    "eval-compare-binary": ["eval", "compare", "{w}/binary.bin", "{w}/report_good.json"],
    "eval-compare-missing": ["eval", "compare", "{w}/nope.json", "{w}/report_good.json"],
    "datasets-edits-out-user-folder": ["datasets", "shapes-edits", "-n", "1", "--out", "{w}/user"],
    "datasets-edits-out-file": ["datasets", "shapes-edits", "-n", "1", "--out", "{w}/afile.txt"],
    "datasets-edits-num": ["datasets", "shapes-edits", "-n", "-1", "--out", "{w}/out_edits"],
    "datasets-edits-seed": ["datasets", "shapes-edits", "-n", "1", "--seed", "-1", "--out", "{w}/out_edits"],
    # ---- convert
    "convert-ckpt-missing": ["convert", "hunyuan-original", "{w}/nope.pt", "{w}/out_convert"],
    "convert-ckpt-binary": ["convert", "hunyuan-original", "{w}/binary.bin", "{w}/out_convert"],
    "convert-ckpt-text": ["convert", "hunyuan-original", "{w}/afile.txt", "{w}/out_convert"],
    "convert-ckpt-lying-safetensors": ["convert", "hunyuan-original", "{w}/lora_bad.safetensors", "{w}/out_convert"],
    "convert-shard-size": ["convert", "hunyuan-original", "{w}/lora_bad.safetensors", "{w}/out_convert",
                           "--max-shard-size", "lots"],
    "convert-out-user-folder": ["convert", "hunyuan-original", "{w}/lora_bad.safetensors", "{w}/user"],
    # ---- info, edit, dub
    "info-text": ["info", "{w}/afile.txt"],
    "info-binary": ["info", "{w}/binary.bin"],
    "info-missing": ["info", "{w}/nope.mp4"],
    "edit-missing": ["edit", "{w}/nope.mp4", "make it blue"],
    "edit-binary": ["edit", "{w}/binary.bin", "make it blue"],
    "edit-text": ["edit", "{w}/afile.txt", "make it blue"],
    "dub-missing": ["dub", "{w}/nope.mp4", "--out", "{w}/out_dub"],
    "dub-binary": ["dub", "{w}/binary.bin", "--out", "{w}/out_dub"],
    "dub-no-out": ["dub", "{w}/inputs/v.mp4"],
    "dub-seed-2^64": ["dub", "{w}/inputs/v.mp4", "--out", "{w}/out_dub", "--seed", str(2**64)],
    "dub-guidance-nan": ["dub", "{w}/inputs/v.mp4", "--out", "{w}/out_dub", "--guidance", "nan"],
    "dub-steps-zero": ["dub", "{w}/inputs/v.mp4", "--out", "{w}/out_dub", "--steps", "0"],
    "dub-over-a-users-video": ["dub", "{w}/inputs/v.mp4", "--out", "{w}/user_videos", "--config", "tiny"],
    "edit-seed-2^64": ["edit", "{w}/inputs/v.mp4", "make it blue", "--out", "{w}/out_edit", "--seed", str(2**64)],
    "edit-guidance-nan": ["edit", "{w}/inputs/v.mp4", "make it blue", "--out", "{w}/out_edit", "--guidance", "nan"],
    "edit-strength-nan": ["edit", "{w}/inputs/v.mp4", "make it blue", "--out", "{w}/out_edit", "--strength", "nan"],
    "edit-steps-zero": ["edit", "{w}/inputs/v.mp4", "make it blue", "--out", "{w}/out_edit", "--steps", "0"],
    "edit-device-mps": ["edit", "{w}/inputs/v.mp4", "make it blue", "--out", "{w}/out_edit", "--device", "mps"],
    "eval-edits-missing": ["eval", "edits", "{w}/nope", "--cases", "{w}/nope"],
    "eval-dub-missing": ["eval", "dub", "{w}/nope"],
    # ---- others
    "recipes-show-missing": ["recipes", "show", "nonesuch"],
    "recipes-show-binary": ["recipes", "show", "{w}/recipe_binary.toml"],
    "unknown-command": ["nonesuch"],
    "unknown-option": ["sample", "x", "--nonesuch"],
}


def _argv(case, w):
    return [a.replace("{w}", str(w)) for a in case]


def _check(w, before, capsys, argv):
    capsys.readouterr()
    rc = main(argv)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("warning:", "note:"))]
    after = tree_hashes(w)
    lost = [name for name, digest in before.items() if after.get(name) != digest]
    return rc, lines, err, lost


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, workspace, capsys):
    w, before = workspace
    rc, lines, err, lost = _check(w, before, capsys, _argv(CASES[name], w))
    assert not lost, f"pre-existing files changed or removed: {lost}"
    assert "Traceback" not in err and "internal error" not in err, err
    assert rc == 2, (rc, err)
    assert len(lines) == 1 and lines[0].startswith(("error:", "Usage", "Error")), err


def test_corpus_size():
    assert len(CASES) >= 150
