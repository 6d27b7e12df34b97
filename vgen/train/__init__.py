"""``vgen train``: flow-matching training of a pipeline's DiT (full or LoRA) and VAE training, from a recipe."""
