"""Registers the tiny pipeline of the train tests (for subprocess runs: VGEN_PLUGINS_DIR=<this folder>)."""

import sys
from pathlib import Path

from vgen.hookspecs import hookimpl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@hookimpl
def register_pipelines(register):
    def make(**kwargs):
        import train_tiny_pipeline

        return train_tiny_pipeline.factory(**kwargs)

    register("tiny-train", make, description="tiny pipeline of the train tests")
