"""RMSNorm through the ONNX exporter the way CUDA lowers it: to ``aten._fused_rms_norm``, which torchlib cannot
translate (issue 7: the H100 export of the DiT stopped with "No ONNX function found for aten._fused_rms_norm").

On CPU ``F.rms_norm`` is decomposed into basic ops, so the fixture gives ``_fused_rms_norm`` a CPU kernel, as CUDA
has one: then torch.export keeps the fused op on CPU too, exactly as on the GPU (the first assertion proves it).
"""

import pytest
import torch

from vgen.export.exporting import export_parts
from vgen.export.parts import CallModule, InputSpec, Part


def _fused_kernel(x, normalized_shape, weight, eps):
    """A stand-in for the CUDA kernel: fp32 math, result in the input's dtype, rstd in fp32."""
    dims = list(range(-len(normalized_shape), 0))
    x32 = x.float()
    eps = torch.finfo(torch.float32).eps if eps is None else eps
    rstd = torch.rsqrt(x32.pow(2).mean(dims, keepdim=True) + eps)
    out = x32 * rstd
    return (out * weight.float() if weight is not None else out).to(x.dtype), rstd


@pytest.fixture
def fused_rms_norm_on_cpu():
    lib = torch.library.Library("aten", "IMPL")
    lib.impl("_fused_rms_norm", _fused_kernel, "CPU")
    yield
    lib._destroy()


class QKNorm(torch.nn.Module):
    """The DiT's q/k norm (over the head dim, with weight, eps 1e-6) and a weightless, default-eps one over two dims."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(8, 32)
        self.norm = torch.nn.RMSNorm(8, eps=1e-6)
        self.plain = torch.nn.RMSNorm([4, 8], elementwise_affine=False)
        torch.nn.init.normal_(self.norm.weight, 1.0, 0.5)

    def forward(self, x):
        h = self.proj(x).unflatten(-1, (4, 8)) * 3
        return self.norm(h) + self.plain(h)


def _part():
    inputs = [InputSpec("x", ["batch", "text_len", 8], "float32", "normal")]
    return Part("dit", CallModule(QKNorm(), "forward", ["x"]), inputs)


SHAPES = [{"batch": 1, "text_len": 3}, {"batch": 2, "text_len": 5}]


@pytest.mark.parametrize("dtype", ["fp32", "fp16"])
def test_fused_rms_norm_exports_to_onnx_and_matches(fused_rms_norm_on_cpu, tmp_path, dtype):
    part = _part()
    x = torch.randn(2, 3, 8)
    program = torch.export.export(part.module.eval(), (x,)).run_decompositions()
    assert torch.ops.aten._fused_rms_norm.default in {n.target for n in program.graph.nodes}  # as on CUDA

    # without the exporter's translation this raised ConversionError (No ONNX function found for _fused_rms_norm)
    manifest = export_parts([part], "onnx", tmp_path / "e", shapes=SHAPES, dtype=dtype)
    parity = manifest["parts"]["dit"]["parity"]  # the gate: onnxruntime vs the fused kernel at both sizes
    assert [r["dims"] for r in parity] == SHAPES
    assert all(r["max_rel"] <= {"fp32": 1e-5, "fp16": 2e-3}[dtype] for r in parity), parity
