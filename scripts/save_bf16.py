"""Write a trained shapes pipeline folder as the package ships it (bf16, shards <= 14 MB):
    python3 scripts/save_bf16.py SRC DST
(decoder_variants.sh and dit_variants.sh: each variant's `ship` folder)."""

import sys

import torch
from vgen_plugins.shapes_model.pipeline import ShapesPipeline

ShapesPipeline.load(sys.argv[1]).save(sys.argv[2], dtype=torch.bfloat16)
