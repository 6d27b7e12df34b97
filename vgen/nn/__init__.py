"""Building blocks shared by vgen's model families: one attention switch, 3D RoPE, norms and embeddings,
and the scaled VAE latents a pipeline encodes and decodes (``latents.VAELatents``)."""
