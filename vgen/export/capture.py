"""The exportable parts of any VideoPipeline, found by watching the pipeline call them.

``pipe.denoise`` is run at two sets of sizes while ``pipe.transformer.forward`` is wrapped by a recorder; the
recorded arguments give the DiT's input names, dtypes and, by comparing the two calls, which axis of each input is
the batch, the latent frames/height/width or the text length. ``pipe.decode`` is watched the same way for
``pipe.vae.decode``, and ``pipe.encode_prompt`` for ``pipe.text_encoder(_2).forward`` (whose output field the pipeline
passes on, e.g. ``hidden_states[-3]``, is found by value). So nothing here knows a model family: it only uses the
VideoPipeline protocol (and the diffusers-style ``text_encoder`` attribute names).
"""

from __future__ import annotations

import inspect

import torch

from vgen.engines.manifest import dtype_name, weight_signature
from vgen.engines.standins import PARTS, flat_arguments  # PARTS: what vgen sample --engine can swap in
from vgen.errors import UserError
from vgen.export.parts import CallModule, InputSpec, Part, returns_kind

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
            self.calls.append((flat_arguments(sig, args, kwargs), out))
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
    return pipe.denoise(latents, timestep, _probe_text(pipe, dims, device, dtype), guidance=guidance)


def _call_vae(pipe, dims: dict, device, dtype):
    return pipe.decode(_latents(pipe, dims, device, dtype))


def _call_text(pipe, dims: dict, device, dtype):
    return pipe.encode_prompt(["a red ball rolls across a wooden table"] * dims["batch"], device=device)


def _select(out, results: dict) -> tuple:
    """Which field of a model output (e.g. ``hidden_states[-3]``, ``pooler_output``) the pipeline passed on: the
    one whose values (or trailing positions, when the pipeline crops a prompt template) equal a result's."""
    if isinstance(out, torch.Tensor):
        return ()
    candidates = []
    for key, value in (out.items() if hasattr(out, "items") else enumerate(out)):
        if isinstance(value, torch.Tensor):
            candidates.append(((key,), value))
        elif isinstance(value, (tuple, list)):
            candidates += [((key, i - len(value)), t) for i, t in enumerate(value) if isinstance(t, torch.Tensor)]
    for path, c in candidates:
        for r in results.values():
            if (isinstance(r, torch.Tensor) and r.is_floating_point() and r.dim() == c.dim() and r.dim() >= 2
                    and r.shape[0] == c.shape[0] and r.shape[2:] == c.shape[2:] and r.shape[1] <= c.shape[1]
                    and (r.dim() > 2 or r.shape == c.shape)
                    and torch.allclose(c[:, c.shape[1] - r.shape[1]:].float(), r.float(), rtol=1e-3, atol=1e-5)):
                return path
    raise UserError("cannot tell which output of the text encoder the pipeline uses; cannot export it")


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
    if not t.is_floating_point() and t.dim() >= 2 and int(t.max()) > 1:
        return "ids"  # token ids
    if not t.is_floating_point() or (t.dim() == 2 and "mask" in name):
        return "mask" if t.dim() >= 2 else "scalar"
    if t.dim() == 1 and shape[0] == "batch":
        return "scalar"  # timesteps, embedded guidance
    return "normal"


def _part_from_calls(name: str, target, method: str, calls, dims, multiples: dict, select: tuple = ()) -> Part:
    (args_a, out_a), (args_b, _) = calls
    tensors = [k for k, v in args_a.items() if isinstance(v, torch.Tensor)]
    constants = {k: v for k, v in args_a.items() if not isinstance(v, torch.Tensor) and k not in ("args", "kwargs")}
    inputs = []
    for key in tensors:
        if not isinstance(args_b.get(key), torch.Tensor):
            raise UserError(f"{name}: input {key!r} is a tensor in one call and not in another; cannot export")
        shape = _roles(args_a[key], args_b[key], dims[0], dims[1])
        kind = _kind(key, args_a[key], shape)
        high = int(max(args_a[key].max(), args_b[key].max())) + 1 if kind == "ids" else None
        inputs.append(InputSpec(key, shape, dtype_name(args_a[key].dtype), kind, high))
    module = CallModule(target, method, tensors, constants, select)
    return Part(name, module, inputs, returns="select" if select else returns_kind(out_a),
                signature=weight_signature(target), multiples=multiples,
                meta={"constants": {k: repr(v) for k, v in constants.items()}, "select": list(select)})


@torch.no_grad()
def pipeline_parts(pipe, names=PARTS, device="cpu", dtype=torch.float32) -> list[Part]:
    """The parts ``names`` of ``pipe`` (a VideoPipeline), each recorded at the two probe sizes."""
    parts = []
    for name in names:
        if name == "dit":
            target, method, call = pipe.transformer, "forward", _call_dit
        elif name == "vae_decoder":
            target, method, call = pipe.vae, "decode", _call_vae
        elif name in ("text_encoder", "text_encoder_2") and isinstance(getattr(pipe, name, None), torch.nn.Module):
            target, method, call = getattr(pipe, name), "forward", _call_text
        else:
            raise UserError(f"unknown part {name!r} for {pipe.name}; known: {', '.join(PARTS)}")
        with Recorder(target, method) as rec:
            results = [call(pipe, dims, device, dtype) for dims in PROBE]
        if len(rec.calls) != 2:
            raise UserError(f"{pipe.name}: {name} is not called once per {type(target).__name__}.{method} call")
        select = _select(rec.calls[-1][1], results[-1]) if name.startswith("text_encoder") else ()
        patch = max(1, pipe.size_multiple // pipe.spatial_compression) if name == "dit" else 1
        part = _part_from_calls(name, target, method, rec.calls, PROBE, {"height": patch, "width": patch}, select)
        parts.append(part)
    return parts


def video_dims(pipe, batch: int, frames: int, height: int, width: int, text_len: int) -> dict[str, int]:
    """Role sizes of the parts for a video size in pixels and frames."""
    return {"batch": batch, "frames": (frames - 1) // pipe.temporal_compression + 1,
            "height": height // pipe.spatial_compression, "width": width // pipe.spatial_compression,
            "text_len": text_len}
