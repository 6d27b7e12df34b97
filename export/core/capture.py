"""The exportable parts of any VideoPipeline, found by watching the pipeline call them.

``pipe.denoise`` is run at two sets of sizes while ``pipe.transformer.forward`` is wrapped by a recorder; the
recorded arguments give the DiT's input names, dtypes and, by comparing the two calls, which axis of each input is
the batch, the latent frames/height/width or the text length. ``pipe.decode`` is watched the same way for
``pipe.vae.decode``. So nothing here knows a model family: it only uses the VideoPipeline protocol.
"""

from __future__ import annotations

import inspect

import torch
from vgen_export.core.parts import CallModule, InputSpec, Part, dtype_name, returns_kind, weight_signature

from vgen.errors import UserError

PARTS = ("dit", "vae_decoder")

# Two probe sizes (latent units, multiples of the patch) whose (first, second) size pairs differ from role to role,
# so that every axis that changes between the calls is matched to exactly one role.
PROBE = ({"batch": 1, "frames": 2, "height": 4, "width": 8, "text_len": 5},
         {"batch": 2, "frames": 3, "height": 8, "width": 4, "text_len": 7})


class Recorder:
    """Swaps ``obj.<method>`` for a wrapper recording the first call's bound arguments and result."""

    def __init__(self, obj, method: str):
        self.obj, self.method = obj, method
        self.original = getattr(obj, method)
        self.calls: list[tuple[dict, object]] = []

    def __enter__(self):
        sig = inspect.signature(self.original)

        def wrapper(*args, **kwargs):
            out = self.original(*args, **kwargs)
            bound = sig.bind(*args, **kwargs)
            self.calls.append((dict(bound.arguments), out))
            return out

        setattr(self.obj, self.method, wrapper)
        return self

    def __exit__(self, *exc):
        if self.method in vars(self.obj):
            delattr(self.obj, self.method)


def _probe_text(pipe, dims: dict, device, dtype) -> dict:
    """Text conditioning of the right structure at ``text_len`` tokens: (B, L, ...) tensors, (B, L) masks, (B, D)."""
    enc = pipe.encode_prompt(["a red ball rolls across a table"], device=device, dtype=dtype)
    out = {}
    for key, t in enc.items():
        b, length = dims["batch"], dims["text_len"]
        if t.dim() >= 3:
            out[key] = torch.randn(b, length, *t.shape[2:]).to(device=device, dtype=t.dtype)
        elif t.dim() == 2 and not t.is_floating_point():
            out[key] = torch.ones(b, length, dtype=t.dtype, device=device)
        else:
            out[key] = torch.randn(b, *t.shape[1:]).to(device=device, dtype=t.dtype)
    return out


def _call_dit(pipe, dims: dict, device, dtype):
    latents = _latents(pipe, dims, device, dtype)
    timestep = torch.full((dims["batch"],), 500.0, device=device)
    guidance = None
    if pipe.defaults.get("embedded_guidance") is not None or pipe.defaults.get("guidance") is not None:
        guidance = torch.full((dims["batch"],), float(pipe.defaults.get("embedded_guidance")
                                                      or pipe.defaults.get("guidance")), device=device)
    pipe.denoise(latents, timestep, _probe_text(pipe, dims, device, dtype), guidance=guidance)


def _call_vae(pipe, dims: dict, device, dtype):
    pipe.decode(_latents(pipe, dims, device, dtype))


def _latents(pipe, dims: dict, device, dtype) -> torch.Tensor:
    shape = (dims["batch"], pipe.latent_channels, dims["frames"], dims["height"], dims["width"])
    return torch.randn(shape).to(device=device, dtype=dtype)


def _roles(a: torch.Tensor, b: torch.Tensor, dims_a: dict, dims_b: dict) -> list:
    if a.dim() != b.dim():
        raise UserError(f"inputs change rank between calls ({tuple(a.shape)} vs {tuple(b.shape)}); cannot export")
    shape = []
    for sa, sb in zip(a.shape, b.shape, strict=True):
        if sa == sb:
            shape.append(int(sa))
            continue
        match = [r for r in dims_a if sa == dims_a[r] and sb == dims_b[r]]
        if len(match) != 1:
            raise UserError(f"cannot tell which size an input axis follows ({sa} then {sb}); cannot export")
        shape.append(match[0])
    return shape


def _kind(name: str, t: torch.Tensor, shape: list) -> str:
    if not t.is_floating_point() or (t.dim() == 2 and "mask" in name):
        return "mask" if t.dim() >= 2 else "scalar"
    if t.dim() == 1 and shape[0] == "batch":
        return "scalar"  # timesteps, embedded guidance
    return "normal"


def _part_from_calls(name: str, target, method: str, calls, dims, multiples: dict) -> Part:
    (args_a, out_a), (args_b, _) = calls
    tensors = [k for k, v in args_a.items() if isinstance(v, torch.Tensor)]
    constants = {k: v for k, v in args_a.items() if not isinstance(v, torch.Tensor) and k not in ("args", "kwargs")}
    inputs = []
    for key in tensors:
        if not isinstance(args_b.get(key), torch.Tensor):
            raise UserError(f"{name}: input {key!r} is a tensor in one call and not in another; cannot export")
        shape = _roles(args_a[key], args_b[key], dims[0], dims[1])
        inputs.append(InputSpec(key, shape, dtype_name(args_a[key].dtype), _kind(key, args_a[key], shape)))
    module = CallModule(target, method, tensors, constants)
    return Part(name, module, inputs, returns=returns_kind(out_a), signature=weight_signature(target),
                multiples=multiples,
                meta={"constants": {k: repr(v) for k, v in constants.items()}})


@torch.no_grad()
def pipeline_parts(pipe, names=PARTS, device="cpu", dtype=torch.float32) -> list[Part]:
    """The parts ``names`` of ``pipe`` (a VideoPipeline), each recorded at the two probe sizes."""
    parts = []
    for name in names:
        if name == "dit":
            target, method, call = pipe.transformer, "forward", _call_dit
        elif name == "vae_decoder":
            target, method, call = pipe.vae, "decode", _call_vae
        else:
            raise UserError(f"unknown part {name!r}; known: {', '.join(PARTS)}")
        with Recorder(target, method) as rec:
            for dims in PROBE:
                call(pipe, dims, device, dtype)
        if len(rec.calls) < 2:
            raise UserError(f"{pipe.name}: {name} was not called through {type(target).__name__}.{method}")
        calls = [rec.calls[0], rec.calls[-1]]
        patch = max(1, pipe.size_multiple // pipe.spatial_compression) if name == "dit" else 1
        part = _part_from_calls(name, target, method, calls, PROBE, {"height": patch, "width": patch})
        parts.append(part)
    return parts


def video_dims(pipe, batch: int, frames: int, height: int, width: int, text_len: int) -> dict[str, int]:
    """Role sizes of the parts for a video size in pixels and frames."""
    return {"batch": batch, "frames": (frames - 1) // pipe.temporal_compression + 1,
            "height": height // pipe.spatial_compression, "width": width // pipe.spatial_compression,
            "text_len": text_len}
