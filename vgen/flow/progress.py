"""A rich progress bar over denoising steps showing seconds per step (silent with -q or progress=False)."""

from __future__ import annotations

import contextlib
import time

from vgen import console


class _StepSpeed:
    def __init__(self):
        self.start = time.perf_counter()
        self.done = 0

    def text(self) -> str:
        if not self.done:
            return "-- s/step"
        return f"{(time.perf_counter() - self.start) / self.done:.2f} s/step"


@contextlib.contextmanager
def step_bar(total: int, label: str, enabled: bool = True):
    """Yields ``advance()``; call it once per finished step."""
    if not enabled or console.state.quiet:
        yield lambda: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    speed = _StepSpeed()
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[speed]}"), TimeElapsedColumn(), console=console.err,
                  transient=False) as bar:
        task = bar.add_task(label, total=total, speed=speed.text())

        def advance():
            speed.done += 1
            bar.update(task, advance=1, speed=speed.text())

        yield advance
