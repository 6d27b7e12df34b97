"""Can AOTInductor packages load on this machine? Compiles a 3-layer MLP with torch's own API (torch.export +
aoti_compile_and_package) and loads it in a child process, the way `vgen export aoti` checks its packages.

    python scripts/aoti_smoke.py --device cuda      # ~1 min; prints one line, exits 1 if the load fails

Seen 2026-12-01, torch 2.11.0+cu130 on an H200: the load crashed (SIGSEGV) for this MLP as for the 710M DiT, so the
export benchmark's AOTInductor row has no number on that machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
from vgen_export.aoti.package import check_loads

from vgen.errors import UserError


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(ap.parse_args().device)
    dtype = torch.float16 if device.type == "cuda" else torch.float32
    mlp = torch.nn.Sequential(torch.nn.Linear(16, 32), torch.nn.GELU(), torch.nn.Linear(32, 8)).to(device, dtype)
    x = torch.randn(4, 16, device=device, dtype=dtype)
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        start = time.perf_counter()
        path = torch._inductor.aoti_compile_and_package(torch.export.export(mlp, (x,)),
                                                        package_path=str(Path(tmp) / "mlp.pt2"))
        compiled = time.perf_counter() - start
        try:
            check_loads(Path(path), device)
        except UserError as exc:
            print(f"aoti on {device.type}: compiled in {compiled:.0f} s, load FAILED: {exc}")
            return 1
        err = (torch._inductor.aoti_load_package(path)(x) - mlp(x)).abs().max().item()
    print(f"aoti on {device.type}: compiled in {compiled:.0f} s, loads, max abs error {err:.1e} "
          f"(torch {torch.__version__})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
