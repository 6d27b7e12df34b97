"""Editor ``shapes-instruct``: samples the edited video from noise with pipeline ``shapes-edit``, the source
video's latents beside the noisy ones and the instruction as the text (MovieGen Edit). Instructions outside the
forms it was trained on get a one-line warning listing them (the model still runs on what it was given)."""

from __future__ import annotations

import torch

from vgen import console, registry
from vgen.contract.edit import EditRequest
from vgen.errors import UserError

SIZE = (17, 64, 64)  # frames, height, width: the shapes world's videos, the only size it was trained on


class InstructEditor:
    takes = "instruction"

    def edit(self, pipe, latents: torch.Tensor, request: EditRequest, generator: torch.Generator):
        from vgen_plugins.shapes.edit_pairs import FORMS, parse_instruction

        from vgen.flow import schedules
        from vgen.flow.guidance import GuidedVelocity
        from vgen.flow.loop import module_place, resolve_options
        from vgen.pipeline import latent_shape

        if getattr(pipe, "name", None) != "shapes-edit":
            raise UserError("editor shapes-instruct runs on pipeline shapes-edit")
        if request.strength is not None:
            raise UserError("shapes-instruct samples the edit from noise: --strength is for flowedit and sdedit")
        if tuple(latents.shape) != latent_shape(pipe, 1, *SIZE):
            raise UserError("shapes-instruct edits 64x64 videos of 17 frames (refused, not resized)")
        instruction = request.instruction or ""
        parsed = parse_instruction(instruction)
        if parsed is None:
            console.warn(f"instruction {instruction!r} is none of the forms the editor knows: {'; '.join(FORMS)}")
        opts = resolve_options(pipe, steps=request.steps, guidance=request.guidance)
        device, dtype = latents.device, module_place(pipe.transformer)[1]
        source = latents.to(torch.float32)
        cond = {**pipe.encode_prompt([instruction], device=device, dtype=dtype), "source": source}
        uncond = None
        if opts["guidance"] != 1.0:  # the instruction left out, the source kept
            uncond = {**pipe.encode_prompt([""], device=device, dtype=dtype), "source": source}
        velocity = GuidedVelocity(pipe, cond, uncond, scale=opts["guidance"], device=device, dtype=dtype)
        sigmas = schedules.sigmas(opts["schedule"], opts["steps"], opts["shift"]).to(device)
        x = torch.randn(latents.shape, generator=generator, dtype=torch.float32).to(device)
        solver = registry.get("sampler", opts["sampler"]).factory()
        z = solver.sample(velocity, x, sigmas).float()
        return z, {"steps": opts["steps"], "schedule": opts["schedule"], "shift": opts["shift"],
                   "guidance": opts["guidance"], "sampler": opts["sampler"], "model_calls": velocity.calls,
                   "kind": parsed[0] if parsed else None}
