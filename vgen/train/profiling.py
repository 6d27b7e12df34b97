"""Profile a few training steps with torch.profiler: where a step's time goes, on the CPU and on the GPU.

``[train] profile_steps = N`` (with ``profile_from``, the first step profiled: after warm-up and compiling) writes
into ``OUT/profile/``: ``summary.json`` (wall ms per step, GPU-busy ms per step and its share: a share far below 1
means the step waits on Python, launches or data, not on kernels; ``syncs_per_step``: host waits for the GPU),
``top_ops.txt`` (the operators by self time; on a GPU also ``top_ops_cpu.txt``, by host time) and
``trace.json.gz`` (a Chrome / Perfetto trace).
"""

from __future__ import annotations

import gzip
import json
import shutil
import time
from pathlib import Path

import torch

from vgen import console

SYNC_EVENTS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "cudaEventSynchronize", "aten::_local_scalar_dense")


class StepProfiler:
    """Call ``before(step)`` and ``after(step)`` around each optimizer step; does nothing unless ``steps`` > 0."""

    def __init__(self, out: Path, first: int, steps: int, enabled: bool = True):
        self.folder, self.first, self.steps = Path(out) / "profile", first, steps
        self.enabled = enabled and steps > 0
        self.cuda = torch.cuda.is_available()
        self._prof = None
        self._t0 = 0.0

    def before(self, step: int) -> None:
        if not self.enabled or self._prof is not None or step != self.first:
            return
        activities = [torch.profiler.ProfilerActivity.CPU]
        if self.cuda:
            activities.append(torch.profiler.ProfilerActivity.CUDA)
            torch.cuda.synchronize()
        self._prof = torch.profiler.profile(activities=activities)
        self._prof.start()
        self._t0 = time.perf_counter()

    def after(self, step: int) -> None:
        """``step``: the number of steps done now; the profile ends once ``steps`` of them ran under it."""
        if self._prof is None or step < self.first + self.steps:
            return
        if self.cuda:
            torch.cuda.synchronize()
        wall = (time.perf_counter() - self._t0) / self.steps
        self._prof.stop()
        prof, self._prof, self.enabled = self._prof, None, False
        self._write(prof, wall)

    def _write(self, prof, wall_s: float) -> None:
        from vgen.io.atomic import atomic_path, write_text

        self.folder.mkdir(parents=True, exist_ok=True)
        averages = prof.key_averages()
        sort = "self_device_time_total" if self.cuda else "self_cpu_time_total"
        write_text(self.folder / "top_ops.txt", averages.table(sort_by=sort, row_limit=40))
        summary = {"steps": self.steps, "first_step": self.first, "wall_ms_per_step": wall_s * 1000}
        if self.cuda:  # kernel time: the kernels' own events only (an operator's self time counts its kernels again)
            busy = sum(e.self_device_time_total for e in averages
                       if e.device_type != torch.autograd.DeviceType.CPU) / 1000 / self.steps
            summary.update(gpu_busy_ms_per_step=busy, gpu_busy_share=busy / max(1e-9, wall_s * 1000))
            write_text(self.folder / "top_ops_cpu.txt", averages.table(sort_by="self_cpu_time_total", row_limit=40))
        # host waits for the device (a tensor read, a blocking copy): each one empties the GPU's queue
        summary["syncs_per_step"] = {e.key: e.count / self.steps for e in averages if e.key in SYNC_EVENTS}
        write_text(self.folder / "summary.json", json.dumps(summary, indent=2))
        trace = self.folder / "trace.json"
        prof.export_chrome_trace(str(trace))
        with atomic_path(self.folder / "trace.json.gz") as tmp, open(trace, "rb") as src, gzip.open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        trace.unlink()
        busy = f", GPU busy {summary['gpu_busy_share']:.0%}" if self.cuda else ""
        console.info(f"profiled steps {self.first + 1}-{self.first + self.steps}: "
                     f"{summary['wall_ms_per_step']:.1f} ms a step{busy} -> {self.folder}")
