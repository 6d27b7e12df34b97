"""Building blocks shared by vgen's model families: one attention switch, 3D RoPE, norms and embeddings."""
