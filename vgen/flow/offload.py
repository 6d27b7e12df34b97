"""Where the pipeline's modules live while sampling.

- no offload: everything sits on the compute device.
- ``model``: whole components visit the compute device only for their stage (text encoders to encode the prompt,
  the transformer to denoise, the VAE to encode the image / decode) and go back to the host afterwards.
- ``sequential``: every module's own weights (and its inputs) visit the compute device only during its forward
  (slowest, smallest peak: about one layer of weights on the device). Weights a module uses outside a forward of
  its own stay on the host, so a model must call its submodules rather than reach into their weights.
"""

from __future__ import annotations

import contextlib

import torch

STAGE_MODULES = {"denoise": ("transformer",), "vae": ("vae",)}  # "text": every other module


def pipeline_modules(pipe) -> dict[str, torch.nn.Module]:
    """The pipeline's torch modules by name: its ``modules()`` dict when it has one, else its module attributes."""
    if callable(getattr(pipe, "modules", None)):
        return dict(pipe.modules())
    return {name: m for name, m in vars(pipe).items() if isinstance(m, torch.nn.Module)}


def _to(value, device):
    """Tensors (also inside lists, tuples and dicts) moved to ``device``."""
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, (list, tuple)):
        return type(value)(_to(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _to(v, device) for k, v in value.items()}
    return value


def _stage_names(pipe, stage: str) -> list[str]:
    mods = pipeline_modules(pipe)
    if stage in STAGE_MODULES:
        return [n for n in STAGE_MODULES[stage] if n in mods]
    taken = {n for names in STAGE_MODULES.values() for n in names}
    return [n for n in mods if n not in taken]


class Placement:
    """``with placement.stage("text" | "denoise" | "vae"):`` puts what that stage needs on ``device``."""

    def __init__(self, pipe, device: torch.device, mode: str | None = None, host: str | torch.device = "cpu"):
        self.pipe, self.device, self.mode, self.host = pipe, torch.device(device), mode, torch.device(host)
        self._hooks: list = []
        if mode not in (None, "model", "sequential"):
            raise ValueError(f"unknown offload mode {mode!r}")
        if mode is not None:
            for m in pipeline_modules(pipe).values():
                m.to(self.host)
        if mode == "sequential":
            self._install_sequential()

    @contextlib.contextmanager
    def stage(self, stage: str):
        if self.mode != "model":
            yield
            return
        mods = pipeline_modules(self.pipe)
        names = _stage_names(self.pipe, stage)
        for n in names:
            mods[n].to(self.device)
        try:
            yield
        finally:
            for n in names:
                mods[n].to(self.host)
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def _install_sequential(self) -> None:
        device, host = self.device, self.host

        def move(module, target):
            for p in module.parameters(recurse=False):
                p.data = p.data.to(target)
            for name, b in module.named_buffers(recurse=False):
                module._buffers[name] = b.to(target)

        for top in pipeline_modules(self.pipe).values():
            for module in top.modules():
                if next(module.parameters(recurse=False), None) is None and \
                        next(module.buffers(recurse=False), None) is None:
                    continue
                def pre(m, args, kwargs):
                    move(m, device)
                    return _to(args, device), _to(kwargs, device)  # the caller may hold inputs on the host

                self._hooks.append(module.register_forward_pre_hook(pre, with_kwargs=True))
                self._hooks.append(module.register_forward_hook(lambda m, args, out: move(m, host)))

    def close(self) -> None:
        """Remove the hooks (weights stay on the host)."""
        for h in self._hooks:
            h.remove()
        self._hooks.clear()
