"""``python -m vgen`` (what torchrun launches) is the ``vgen`` command."""

from vgen.cli import run

if __name__ == "__main__":
    run()
