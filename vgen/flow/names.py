"""The option names other tools use, and the notes that say what a default derived from others did.

One naming in vgen (``steps``, ``shift``, ``guidance``, ``embedded_guidance``, ``negative``, ``frames``, ``height``,
``width``); diffusers' and HunyuanVideo's names are accepted as aliases (docs/python.md, "One naming"). diffusers'
``guidance_scale`` means different things per pipeline: its HunyuanVideo pipeline feeds it to the DiT as embedded
(distilled) guidance, its other pipelines use it as true classifier-free guidance; ``guidance_scale_field`` says which
one a vgen pipeline maps it to. No torch import: the recipe loader imports this.
"""

from __future__ import annotations

# other names -> the vgen option they set
ALIASES = {"num_inference_steps": "steps", "infer_steps": "steps", "flow_shift": "shift",
           "embedded_cfg_scale": "embedded_guidance", "true_cfg_scale": "guidance", "negative_prompt": "negative",
           "neg_prompt": "negative", "video_length": "frames", "num_frames": "frames"}


def rename_aliases(data: dict) -> dict:
    """``data`` with alias keys renamed to vgen's (``video_size`` [H, W] -> height, width). ValueError when one
    option is given under two names."""
    out = dict(data)
    for alias, name in ALIASES.items():
        if alias in out:
            value = out.pop(alias)
            if value is not None and out.get(name) is not None:
                raise ValueError(f"{alias!r} and {name!r} name the same setting: give one")
            if value is not None or name not in out:
                out[name] = value
    size = out.pop("video_size", None)
    if size is not None:
        if len(size) != 2:
            raise ValueError(f"video_size is [height, width], got {size!r}")
        for name, value in zip(("height", "width"), size, strict=True):
            if out.get(name) is not None:
                raise ValueError(f"'video_size' and {name!r} name the same setting: give one")
            out[name] = int(value)
    return out


def guidance_scale_field(pipe) -> str:
    """What diffusers' ``guidance_scale`` sets on ``pipe``: ``embedded_guidance`` where the model takes distilled
    guidance (a default for it), else true CFG ``guidance``."""
    return "embedded_guidance" if (getattr(pipe, "defaults", {}) or {}).get("embedded_guidance") is not None \
        else "guidance"


def resolve_guidance_scale(pipe, options: dict) -> tuple[dict, str | None]:
    """``options`` with ``guidance_scale`` moved to the option it means on ``pipe``, and the note that says so."""
    options = dict(options)
    value = options.pop("guidance_scale", None)
    if value is None:
        return options, None
    field = guidance_scale_field(pipe)
    if options.get(field) is not None:
        flag = field.replace("_", "-")
        raise ValueError(f"guidance_scale and {field} name the same setting on {pipe.name}: give one "
                         f"(--guidance-scale or --{flag})")
    options[field] = float(value)
    meaning = ("the embedded (distilled) guidance the DiT takes, as in diffusers' HunyuanVideoPipeline; true CFG is "
               "--guidance" if field == "embedded_guidance" else "true classifier-free guidance (--guidance)")
    return options, f"note: guidance_scale {float(value):g} on {pipe.name} is {meaning}"


def derived_notes(pipe, info: dict, shift_given: bool) -> list[str]:
    """One line for each default that another setting changed: the shift chosen by the step count, a negative
    prompt that guidance 1 ignores."""
    d = getattr(pipe, "defaults", {}) or {}
    notes = []
    few, below = d.get("shift_few_steps"), int(d.get("few_steps_below", 20))
    if not shift_given and few is not None and info["steps"] < below:
        notes.append(f"note: {pipe.name} uses shift {few:g} below {below} steps ({d.get('shift', 1.0):g} from "
                     f"{below} on): {info['steps']} steps, shift {info['shift']:g}; --shift (--flow-shift) sets it")
    if info.get("negative") and info["guidance"] == 1.0:
        notes.append("note: the negative prompt is ignored at guidance 1 (true CFG off); --guidance above 1 uses it")
    return notes
