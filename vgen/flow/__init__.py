"""The flow-matching sampling core that stages share (sample; train's SDEdit refine; edit).

- ``loop``: ``generate(pipe, prompts, ...)`` -- text -> noise (+ image latent) -> solver -> VAE decode -- and its
  steps (``resolve_options``, ``noise_source``, ``encode_prompts``, ``denoise``, ...).
- ``schedules``: sigma tables by registered schedule name.
- ``guidance``: the guided velocity the solvers integrate (true CFG, embedded guidance, guidance interval).
- ``renoise``: clean latents noised to a sigma and denoised from there (SDEdit): ``tail``, ``denoise_from``.
- ``flowedit``: FlowEdit, an inversion-free edit driven by target- minus source-conditioned velocities.
- ``offload``, ``progress``, ``image``: where modules live while sampling, the step bar, the image-to-video frame.

Model-agnostic: it uses the VideoPipeline protocol and the registry (samplers, schedules), never a stage or the CLI.
"""
