"""The AOTInductor format's work: torch.export with symbolic axes, compiled ahead of time into a ``.pt2`` package for
one device, checked to load in a child process, and the runtime that runs it."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

from vgen import console
from vgen.errors import UserError
from vgen.export.parts import Part


def dynamic_shapes(part: Part) -> tuple:
    # min=1: a batch of one (or one latent frame) must stay allowed although the export example has more
    dim = torch.export.Dim.DYNAMIC(min=1)
    # one entry: CallModule.forward takes the tensors as *args
    return (tuple({axis: dim for axis in axes} for axes in part.dynamic_axes()),)


# Weights past this many bytes are appended to the compiled library and memory-mapped instead of compiled into its
# data section: Inductor's own note on force_mmap_weights says models over ~1B parameters need it. (A 710M fp16 DiT
# crashed in aoti_load_package on an H200 with and without it; so did a 3-layer MLP there: see check_loads.)
MMAP_WEIGHTS_BYTES = 1 << 30


def inductor_configs(module: torch.nn.Module) -> dict:
    size = sum(t.numel() * t.element_size() for t in (*module.parameters(), *module.buffers()))
    return {"aot_inductor.force_mmap_weights": True} if size > MMAP_WEIGHTS_BYTES else {}


@contextlib.contextmanager
def _tolerant_stride_checks():
    """Inductor's convolution lowering asks whether an input's dynamic strides are ordered; for a 3D conv whose input
    is a padded dynamic-shape buffer (the HunyuanVideo VAE decoder on the CPU) the value-range analysis of that
    question raises ValueRangeError ("Invalid ranges [0:-1]") instead of answering "unknown". The check is named
    ``..._or_false``: an undecidable comparison is False, so that is the answer given here (the stride order is then
    enforced by a copy; the parity gate checks the result)."""
    from torch._inductor import ir
    from torch.utils._sympy.value_ranges import ValueRangeError

    real = ir.Layout.__dict__.get("_stride_expr_ge_or_false")
    if real is None:  # another torch: nothing to work around
        yield
        return
    func = real.__func__ if isinstance(real, staticmethod) else real

    def tolerant(*args):
        try:
            return func(*args)
        except ValueRangeError:
            return False

    ir.Layout._stride_expr_ge_or_false = staticmethod(tolerant) if isinstance(real, staticmethod) else tolerant
    from torch.fx.experimental.symbolic_shapes import ShapeEnv

    static = ShapeEnv._maybe_evaluate_static

    def maybe_static(self, *args, **kwargs):  # a symbol without a range: the expression is "not known statically"
        try:
            return static(self, *args, **kwargs)
        except AssertionError as exc:
            if "vr must not be None" not in str(exc):
                raise
            return None

    for name in ("cache_clear", "cache_info"):  # the original is an lru_cache that torch clears
        if hasattr(static, name):
            setattr(maybe_static, name, getattr(static, name))
    ShapeEnv._maybe_evaluate_static = maybe_static
    try:
        yield
    finally:
        ir.Layout._stride_expr_ge_or_false = real
        ShapeEnv._maybe_evaluate_static = static


def export(part: Part, example: list[torch.Tensor], folder: Path) -> list[str]:
    path = folder / f"{part.name}.pt2"
    # only warnings are silenced; stdout stays connected: the compile takes minutes for a large model, and if it
    # dies in native code whatever Inductor printed last must reach the log (a redirect into memory would take it
    # down with the process)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        start = time.perf_counter()
        program = torch.export.export(part.module.eval(), tuple(example), dynamic_shapes=dynamic_shapes(part))
        console.info(f"traced {part.name} in {time.perf_counter() - start:.0f} s; compiling with AOTInductor "
                     f"(minutes for a large model) ...")
        start = time.perf_counter()
        with _tolerant_stride_checks():
            torch._inductor.aoti_compile_and_package(program, package_path=str(path),
                                                     inductor_configs=inductor_configs(part.module))
        console.info(f"compiled {path.name} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - start:.0f} s")
    check_loads(path, example[0].device)
    return [path.name]


PROBE = "import sys, torch; torch._inductor.aoti_load_package(sys.argv[1], device_index=int(sys.argv[2]))"


def device_index(device: torch.device) -> int:
    """aoti_load_package's device_index: the CUDA device's (0 when unnamed), -1 for the CPU."""
    return device.index if device.index is not None else (0 if device.type == "cuda" else -1)


def check_loads(path: Path, device: torch.device, timeout_s: float = 600) -> None:
    """Load a package once in a child process. AOTInductor's loader can die in native code: torch 2.11.0+cu130
    on an H200 crashed (SIGSEGV) loading even a 3-layer MLP compiled by torch's own API, and in this process that
    would end vgen with no message. ``scripts/aoti_smoke.py`` checks a machine the same way."""
    try:
        proc = subprocess.run([sys.executable, "-c", PROBE, str(path), str(device_index(device))],
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise UserError(f"{path}: loading the AOTInductor package took over {timeout_s:g} s") from None
    if proc.returncode < 0:
        try:
            name = signal.Signals(-proc.returncode).name
        except ValueError:
            name = f"signal {-proc.returncode}"
        raise UserError(f"{path}: AOTInductor's loader crashed ({name}) with torch {torch.__version__} on "
                        f"{device.type}; `python scripts/aoti_smoke.py --device {device.type}` shows whether any "
                        f"package loads here (`vgen export onnx` meanwhile)")
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
        raise UserError(f"{path}: AOTInductor could not load it: {last}")


class AotiRuntime:
    """Runs ``<part>.pt2`` on the device it was compiled for."""

    def __init__(self, folder: Path, part: dict, device: torch.device):
        self.device = torch.device(device)
        built_for = part.get("device", "cpu")
        if torch.device(built_for).type != self.device.type:
            raise UserError(f"{folder / (part['name'] + '.pt2')}: compiled for {built_for}, cannot run on "
                            f"{self.device.type}; export again with --device {self.device.type}")
        self.model = torch._inductor.aoti_load_package(str(folder / f"{part['name']}.pt2"),
                                                       device_index=device_index(self.device))
        self.provider = f"aoti-{self.device.type}"

    def __call__(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        out = self.model(*[t.to(self.device) for t in tensors])
        return out[0] if isinstance(out, (list, tuple)) else out
