"""``vgen train``: flow-matching training of a pipeline's DiT (full or LoRA) and VAE training, from a recipe.

- ``settings``: the ``[train]`` recipe section; ``trainer``: the loop (steps, logging, checkpoint cadence, outputs);
- ``objectives/``: what a target optimises (flow matching; reconstruction + KL + adversarial) and the losses;
- ``batches``: each stage's stream of this rank's micro-batches; ``data``: clips, buckets, the latent cache;
- ``checkpoints``: exact resume; ``distributed``: DDP / FSDP2 and activation checkpointing; ``logs``, ``profiling``.

Which modules a target trains and how a denoiser splits over ranks are the pipeline's to say
(``pipe.trainable``, ``pipe.sequence_parallel``): this package names no model.
"""
