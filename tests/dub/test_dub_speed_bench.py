"""benchmarks/dub_speed.py runs (tiny random model, one short row) and reports seconds of audio per second."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_dub_speed_smoke():
    res = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "dub_speed.py"), "--config", "tiny", "--seconds",
                          "1", "--repeat", "1", "--json"], capture_output=True, text=True, check=True)
    data = json.loads(res.stdout)
    (row,) = data["rows"]
    assert data["device"] == "CPU, 2 threads" and row["seconds_of_audio"] == 1.0 and row["audio_s_per_s"] > 0
