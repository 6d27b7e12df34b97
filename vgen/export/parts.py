"""An exportable part: a module whose forward takes positional tensors, with each input's axes named by role.

Roles are the dimensions that may change between calls: ``batch``, ``frames``, ``height``, ``width`` (in the units of
the tensor itself, e.g. latent frames) and ``text_len``. Every other axis is fixed at export time. The same spec makes
random inputs at any set of role sizes, which the parity gate and TensorRT's optimization profiles use.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from vgen.engines.manifest import dtype_name, dtype_of

ROLES = ("batch", "frames", "height", "width", "text_len")

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


@dataclass
class InputSpec:
    name: str
    shape: list  # ints are fixed sizes, strings are roles
    dtype: str  # torch dtype name, e.g. "float32", "int64", "bool"
    kind: str  # how random values are drawn: "normal", "mask" (valid prefix), "scalar" (uniform in [0, 1000)),
    #            "ids" (token ids below ``high``)
    high: int | None = None

    def concrete(self, dims: dict[str, int]) -> list[int]:
        return [dims[s] if isinstance(s, str) else s for s in self.shape]

    def to_json(self) -> dict:
        return {"name": self.name, "shape": self.shape, "dtype": self.dtype, "kind": self.kind, "high": self.high}


@dataclass
class Part:
    """``module(*inputs)`` returns one tensor; ``constants`` are the non-tensor arguments baked in at export."""

    name: str
    module: torch.nn.Module
    inputs: list[InputSpec]
    output: str = "output"
    returns: str = "tensor"  # how the original callable returned it: "tensor", "tuple" or "sample" (.sample)
    signature: str = ""  # a fingerprint of the weights' names and shapes, to catch a mismatched engine dir
    multiples: dict = field(default_factory=dict)  # role -> the size must be a multiple of this (e.g. the patch)
    meta: dict = field(default_factory=dict)

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self.inputs]

    def roles(self) -> set[str]:
        return {s for i in self.inputs for s in i.shape if isinstance(s, str)}

    def dynamic_axes(self) -> list[dict[int, str]]:
        """Per input, ``{axis: role}`` of the axes whose size changes between calls (the artifact keeps them
        symbolic); every other axis is fixed."""
        return [{axis: s for axis, s in enumerate(spec.shape) if isinstance(s, str)} for spec in self.inputs]

    def cast(self, dtype: torch.dtype) -> Part:
        """The part at another float precision; its floating inputs follow (as pipelines cast them to the model's)."""
        self.module.to(dtype)
        for spec in self.inputs:
            if dtype_of(spec.dtype).is_floating_point:
                spec.dtype = dtype_name(dtype)
        return self

    def make_inputs(self, dims: dict[str, int], device="cpu", generator: torch.Generator | None = None,
                    ) -> list[torch.Tensor]:
        return [random_input(spec, dims, device, generator) for spec in self.inputs]


def random_input(spec: InputSpec, dims: dict[str, int], device="cpu",
                 generator: torch.Generator | None = None) -> torch.Tensor:
    shape = spec.concrete(dims)
    dtype = dtype_of(spec.dtype)
    if spec.kind == "mask":  # each row keeps a random-length valid prefix (at least one token)
        length = shape[-1]
        keep = torch.randint(1, length + 1, tuple(shape[:-1]) + (1,), generator=generator)
        values = torch.arange(length).expand(*shape) < keep
        return values.to(dtype).to(device)
    if spec.kind == "ids":
        return torch.randint(0, spec.high or 2, shape, generator=generator).to(dtype).to(device)
    if spec.kind == "scalar":
        values = torch.rand(shape, generator=generator) * 1000
    else:
        values = torch.randn(shape, generator=generator)
    if not dtype.is_floating_point:
        values = values.round()
    return values.to(dtype).to(device)


class CallModule(torch.nn.Module):
    """Calls ``target.<method>`` with keyword tensors named ``names`` (+ fixed constants) and returns one tensor."""

    def __init__(self, target: torch.nn.Module, method: str, names: list[str], constants: dict | None = None,
                 select: tuple = ()):
        super().__init__()
        self.target = target
        self.method = method
        self.names = list(names)
        self.constants = dict(constants or {})
        self.select = tuple(select)  # e.g. ("hidden_states", -3): the one output field the pipeline reads

    def forward(self, *tensors):
        kwargs = dict(zip(self.names, tensors, strict=True), **self.constants)
        fn = self.target if self.method == "forward" else getattr(self.target, self.method)
        out = fn(**kwargs)
        for key in self.select:
            out = out[key] if isinstance(key, int) else getattr(out, key)
        return as_tensor(out)


def as_tensor(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return out[0]
    if hasattr(out, "sample"):
        return out.sample
    raise TypeError(f"cannot export a callable returning {type(out).__name__}")


def returns_kind(out) -> str:
    if isinstance(out, torch.Tensor):
        return "tensor"
    return "tuple" if isinstance(out, (tuple, list)) else "sample"


def parse_dims(text: str | None) -> dict[str, int]:
    """``"batch=1,frames=5,height=32"`` -> dict (a UserError on a bad item)."""
    from vgen.errors import UserError

    out: dict[str, int] = {}
    for item in (text or "").replace(" ", "").split(","):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or key not in ROLES or not value.isdigit() or int(value) < 1:
            raise UserError(f"bad shape item {item!r}: use role=size with roles {', '.join(ROLES)}")
        out[key] = int(value)
    return out
