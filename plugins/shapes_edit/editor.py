"""Editor ``shapes-instruct``: samples the edited video with pipeline ``shapes-edit``, the source video's latents
beside the noisy ones and the instruction as the text (MovieGen Edit), from the source noised to ``strength`` (1: from
pure noise), with CFG on the instruction (the empty instruction, same source, as the unconditional text). Instructions outside the
forms it was trained on get a one-line warning listing them (the model still runs on what it was given)."""

from __future__ import annotations

import torch

from vgen import console, registry
from vgen.contract.edit import EditRequest
from vgen.errors import UserError

SIZE = (17, 64, 64)  # frames, height, width: the shapes world's videos, the only size it was trained on
# Sampling starts from the source noised to this sigma, not from pure noise: the editor was trained with
# logit-normal sigmas, which leave sigma ~1 almost unseen, and from pure noise it lost the source (5/14 edits right
# vs 8/14 from 0.9 with guidance 3 on held-out pairs; guidance 6: 6/14; CPU checks before the 200-case eval)
DEFAULT_STRENGTH = 0.9


class InstructEditor:
    takes = "instruction"

    def edit(self, pipe, latents: torch.Tensor, request: EditRequest, generator: torch.Generator):
        from vgen_plugins.shapes.edit_pairs import FORMS, parse_instruction

        from vgen.flow.loop import resolve_options
        from vgen.pipeline import latent_shape

        if getattr(pipe, "name", None) != "shapes-edit":
            raise UserError("editor shapes-instruct runs on pipeline shapes-edit")
        strength = request.strength  # None: the editor file's measured best (its metadata), else DEFAULT_STRENGTH
        strength = float(pipe.defaults.get("strength", DEFAULT_STRENGTH) if strength is None else strength)
        if not 0.0 < strength <= 1.0:
            raise UserError(f"--strength must be in (0, 1] (the sigma sampling starts at), got {strength}")
        if tuple(latents.shape) != latent_shape(pipe, 1, *SIZE):
            raise UserError("shapes-instruct edits 64x64 videos of 17 frames (refused, not resized)")
        instruction = request.instruction or ""
        parsed = parse_instruction(instruction)
        if parsed is None:
            console.warn(f"instruction {instruction!r} is none of the forms the editor knows: {'; '.join(FORMS)}")
        opts = resolve_options(pipe, steps=request.steps, guidance=request.guidance)
        noise = torch.randn(latents.shape, generator=generator, dtype=torch.float32)
        z, calls, start = sample_edits(pipe, latents, [instruction], noise, strength, opts)
        return z, {"steps": opts["steps"], "schedule": opts["schedule"], "shift": opts["shift"],
                   "guidance": opts["guidance"], "sampler": opts["sampler"], "model_calls": calls,
                   "strength": strength, "start_sigma": start, "kind": parsed[0] if parsed else None}


def sample_edits(pipe, latents: torch.Tensor, instructions: list[str], noise: torch.Tensor, strength: float,
                 opts: dict) -> tuple[torch.Tensor, int, float]:
    """(edited latents, model calls, start sigma) of a batch of sources (B, C, t, h, w), one instruction each:
    ``opts["steps"]`` steps of the pipeline's schedule from the source noised to ``strength``, CFG on the
    instruction with the empty instruction and the same source as the unconditional text."""
    from vgen.flow.flowedit import edit_sigmas
    from vgen.flow.guidance import GuidedVelocity
    from vgen.flow.loop import module_place

    device, dtype = latents.device, module_place(pipe.transformer)[1]
    source = latents.to(torch.float32)
    cond = {**pipe.encode_prompt(list(instructions), device=device, dtype=dtype), "source": source}
    uncond = None
    if opts["guidance"] != 1.0:  # the instruction left out, the source kept
        uncond = {**pipe.encode_prompt([""] * len(instructions), device=device, dtype=dtype), "source": source}
    velocity = GuidedVelocity(pipe, cond, uncond, scale=opts["guidance"], device=device, dtype=dtype)
    sigmas = edit_sigmas(pipe, strength, opts["steps"]).to(device)
    x = sigmas[0] * noise.to(device) + (1 - sigmas[0]) * source
    solver = registry.get("sampler", opts["sampler"]).factory()
    return solver.sample(velocity, x, sigmas).float(), velocity.calls, float(sigmas[0])
