"""Inference-time parallelism on torch.distributed, for one video over the GPUs of one host.

- ``groups``: join the process group torchrun describes; split it into CFG x sequence-parallel groups.
- ``ulysses``: Ulysses sequence parallelism for a DiT whose plugin says where to split it (video tokens split over
  ranks, text tokens replicated, all-to-all between sequence- and head-sharded q/k/v), installed with a context
  manager; pipelines offer it as ``pipe.sequence_parallel(group)``.
- ``batch``: CFG-parallel -- the cond and uncond halves of a batched CFG call on different ranks.
- ``vae``: a VAE's tiled decode with the tiles spread over ranks.
- ``sample``: ``torchrun --nproc-per-node N -m vgen sample ... --parallel ulysses|cfg|cfg-ulysses``.

Training-time sharding (DDP / FSDP2) lives in vgen.train.distributed.
"""
