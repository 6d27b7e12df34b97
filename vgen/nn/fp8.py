"""FP8 linear layers for inference: ``to_fp8(module)`` swaps ``nn.Linear`` layers for ``FP8Linear`` in place.

An ``FP8Linear`` keeps its weight in float8 e4m3 with one scale per output channel and quantizes each activation
row on the fly (one scale per row), then multiplies with ``torch._scaled_mm``: on Hopper-class GPUs (compute
capability >= 8.9) the matmul runs on the FP8 tensor cores at up to twice the bf16 rate, and the weights take half
the memory. Per-row / per-channel scales keep the error near e4m3's rounding (3 mantissa bits) instead of letting
one outlier row or channel flatten the rest.

What is converted: the Linear layers of the repeated blocks, where the FLOPs are. What stays in high precision:
layers whose in/out features are not multiples of 16 (``_scaled_mm`` cannot take them), the module's own direct
Linear children (a model's input / final output projections), and layers whose dotted name has a part containing
``embed`` (timestep / text / guidance embeddings, a text-token refiner) or ``norm`` (adaptive-norm modulation:
one conditioning vector per sample, so nothing to gain, while its error would scale every token).

Inference only (``_scaled_mm`` has no backward). ``fp8_supported(device)`` says whether a device can run it.
"""

from __future__ import annotations

import functools
import re

import torch
from torch import nn

from vgen.errors import UserError

E4M3 = getattr(torch, "float8_e4m3fn", None)
E4M3_MAX = 448.0  # torch.finfo(torch.float8_e4m3fn).max
SKIP_PARTS = re.compile(r"embed|norm")  # a dotted-name part matching this keeps its Linear in high precision


def quantize_rows(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(q, scale): ``x`` (..., K) as e4m3 with one float32 scale per row (..., 1); ``q * scale`` ~ ``x``.

    An all-zero row gets a tiny scale (never 0, so the divide stays finite)."""
    scale = x.abs().amax(dim=-1, keepdim=True).float().clamp(min=1e-12) / E4M3_MAX
    q = (x.float() / scale).clamp(-E4M3_MAX, E4M3_MAX).to(E4M3)
    return q, scale


def dequantize(q: torch.Tensor, scale: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return (q.float() * scale.float()).to(dtype)


@functools.cache
def _compiled_quantize():
    """``quantize_rows`` as one fused kernel (amax + scale + cast): eager, the cast costs several full passes over
    the activations per layer, about a quarter of a 13B DiT step."""
    return torch.compile(quantize_rows, dynamic=True, fullgraph=True)


class FP8Linear(nn.Module):
    """``y = x @ W.T + b`` with W in e4m3 (per-output-channel scales) and x quantized per row at each call.

    The e4m3 weight is held as a uint8 buffer (the same bytes), so ``module.to(dtype)`` on a parent model leaves it
    alone; ``weight`` gives the dequantized weight for code that reads it directly (correct, but no FP8 speed)."""

    def __init__(self, in_features: int, out_features: int, qweight: torch.Tensor, weight_scale: torch.Tensor,
                 bias: torch.Tensor | None, fast_accum: bool = True, compile_quantize: bool | None = None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.fast_accum = fast_accum  # Hopper's faster FP8 accumulation (what torchao's forward uses)
        self.compile_quantize = compile_quantize  # None: on CUDA only (CPU compiles cost more than they save)
        self.register_buffer("qweight", qweight.view(torch.uint8))  # (out, in) e4m3 bytes
        self.register_buffer("weight_scale", weight_scale.reshape(1, out_features).float())
        self.bias = nn.Parameter(bias, requires_grad=False) if bias is not None else None
        self.dtype = bias.dtype if bias is not None else torch.bfloat16  # the dtype ``weight`` comes back in

    @classmethod
    def from_linear(cls, linear: nn.Linear, fast_accum: bool = True,
                    compile_quantize: bool | None = None) -> FP8Linear:
        w = linear.weight.detach()
        q, scale = quantize_rows(w)  # a weight row is an output channel
        bias = linear.bias.detach() if linear.bias is not None else None
        layer = cls(linear.in_features, linear.out_features, q, scale, bias, fast_accum, compile_quantize)
        layer.dtype = w.dtype
        return layer

    @property
    def weight(self) -> torch.Tensor:
        return dequantize(self.qweight.view(E4M3), self.weight_scale.t(), self.dtype)

    def _quantize(self, x: torch.Tensor):
        if torch.compiler.is_compiling():  # inside a compiled model: traced and fused with the rest
            return quantize_rows(x)
        compiled = x.is_cuda if self.compile_quantize is None else self.compile_quantize
        return _compiled_quantize()(x) if compiled else quantize_rows(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        q, scale = self._quantize(x.reshape(-1, self.in_features))
        # CUDA's row-wise kernel writes bf16 only; the CPU's takes the input's dtype
        out_dtype = torch.bfloat16 if x.is_cuda else x.dtype
        bias = self.bias.to(out_dtype) if self.bias is not None else None
        out = torch._scaled_mm(q, self.qweight.view(E4M3).t(), scale_a=scale, scale_b=self.weight_scale.float(),
                               bias=bias, out_dtype=out_dtype, use_fast_accum=self.fast_accum)
        return out.to(x.dtype).reshape(*shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, e4m3"


@functools.cache
def _probe(device_type: str, index: int | None) -> bool:
    """One tiny row-wise ``_scaled_mm`` on the device: builds without the kernel fail here, not mid-sample."""
    device = torch.device(device_type, index) if index is not None else torch.device(device_type)
    try:
        a = torch.ones(16, 16, device=device).to(E4M3)
        b = torch.ones(16, 16, device=device).to(E4M3)
        one_a, one_b = torch.ones(16, 1, device=device), torch.ones(1, 16, device=device)
        out = torch._scaled_mm(a, b.t(), scale_a=one_a, scale_b=one_b, out_dtype=torch.bfloat16)
        return bool(out.float().sum().item() == 16 * 16 * 16)
    except (RuntimeError, NotImplementedError, TypeError):
        return False


def fp8_supported(device: str | torch.device) -> bool:
    """Whether ``device`` runs row-wise scaled e4m3 matmuls (Hopper/Ada CUDA GPUs; torch's CPU kernel too, slowly)."""
    device = torch.device(device)
    if E4M3 is None or not hasattr(torch, "_scaled_mm"):
        return False
    if device.type == "cuda":
        if not torch.cuda.is_available():
            return False
        index = device.index if device.index is not None else torch.cuda.current_device()
        if torch.cuda.get_device_capability(index) < (8, 9):
            return False
        return _probe("cuda", index)
    if device.type == "cpu":
        return _probe("cpu", None)
    return False


def convertible(name: str, layer: nn.Module) -> bool:
    """Whether the Linear at dotted ``name`` (relative to the module ``to_fp8`` was given) becomes FP8."""
    if type(layer) is not nn.Linear or "." not in name:  # subclasses (LoRA, quantized) and direct children stay
        return False
    if layer.in_features % 16 or layer.out_features % 16:
        return False
    return not any(SKIP_PARTS.search(part) for part in name.split("."))


def to_fp8(module: nn.Module, fast_accum: bool = True, compile_quantize: bool | None = None,
           device: str | torch.device | None = None) -> int:
    """Replace the eligible ``nn.Linear`` layers of ``module`` by ``FP8Linear`` in place; returns how many.

    ``device``: where the layers will run (default: where their weights are; a model held on the host for
    offloading converts there and runs on ``device``). Raises a UserError when that device has no FP8 matmuls (a
    GPU older than compute capability 8.9), the weights are on the meta device (nothing to quantize) or the module
    is a bare Linear (there is no parent to swap it in)."""
    if isinstance(module, nn.Linear):
        raise UserError("to_fp8 converts the Linear layers inside a module: pass the model, not a Linear")
    names = [name for name, layer in module.named_modules() if convertible(name, layer)]
    if not names:
        return 0
    places = {module.get_submodule(n).weight.device for n in names}
    if torch.device("meta") in places:
        raise UserError("FP8 conversion needs the weights' values: load them before converting (meta device)")
    for target in {torch.device(device)} if device is not None else places:
        if not fp8_supported(target):
            what = torch.cuda.get_device_name(target) if target.type == "cuda" else target.type
            raise UserError(f"FP8 linear layers need row-wise scaled e4m3 matmuls (an NVIDIA GPU of compute "
                            f"capability 8.9+, e.g. H100 / L40S / RTX 4090); {what} has none: drop --fp8")
    for name in names:  # one layer at a time: each bf16 weight is freed as its FP8 copy replaces it
        parent_name, _, child = name.rpartition(".")
        parent = module.get_submodule(parent_name)
        setattr(parent, child, FP8Linear.from_linear(getattr(parent, child), fast_accum=fast_accum,
                                                     compile_quantize=compile_quantize))
    return len(names)
