"""Training logs (rank 0 only): metrics JSONL, optional TensorBoard, a rich progress line and a loss-curve PNG."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

from vgen import console
from vgen.errors import UserError

METRICS = "metrics.jsonl"


def truncate_metrics(path: Path, step: int) -> None:
    """Drop records after ``step`` (written by a run that died after its last checkpoint)."""
    if not path.is_file():
        return
    keep = []
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if record.get("step", 0) <= step:
            keep.append(line + "\n")
    from vgen.io.atomic import write_text

    write_text(path, "".join(keep))


def read_metrics(path: Path) -> list[dict]:
    out = []
    for line in Path(path).read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            pass
    return out


class Logger:
    def __init__(self, out: Path, enabled: bool, total: int, start: int, tensorboard: bool):
        self.enabled = enabled
        self.out = Path(out)
        self.path = self.out / METRICS
        self._f = None
        self._tb = None
        self._progress = None
        if not enabled:
            return
        self.out.mkdir(parents=True, exist_ok=True)
        truncate_metrics(self.path, start)
        self._f = open(self.path, "a")
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                raise UserError("tensorboard = true needs the tensorboard package: pip install tensorboard") from None
            self._tb = SummaryWriter(str(self.out / "tensorboard"), purge_step=start + 1)
        if not console.state.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("train"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                                      TextColumn("{task.fields[info]}"), console=console.err, transient=False)
            self._task = self._progress.add_task("train", total=total, completed=start, info="")
            self._progress.start()

    def log(self, record: dict) -> None:
        if not self.enabled:
            return
        self._f.write(json.dumps(record) + "\n")
        self._f.flush()
        if self._tb is not None:
            for k, v in record.items():
                if isinstance(v, (int, float)) and k != "step":
                    self._tb.add_scalar(k, v, record["step"])
        if self._progress is not None and "loss" in record:
            info = (f"loss {record['loss']:.4f} lr {record['lr']:.2e} {record.get('samples_per_s', 0):.1f} samples/s "
                    f"{record.get('tokens_per_s', 0):.0f} tok/s")
            if record.get("gpu_mem_gb"):
                info += f" mem {record['gpu_mem_gb']:.1f}GB"
            self._progress.update(self._task, completed=record["step"], info=info)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
        if self._f is not None:
            self._f.close()
        if self._tb is not None:
            self._tb.close()


class Window:
    """What a log record averages over: the steps since the last record."""

    def __init__(self):
        self.t0, self.steps = time.perf_counter(), 0
        self.samples, self.tokens, self.data_s, self.loss = 0, 0, 0.0, 0.0

    def add(self, record: dict) -> None:
        """A step's record (its ``data_s`` taken out); its loss stays this rank's, on the device."""
        self.samples += record["samples"]
        self.tokens += record["tokens"]
        self.data_s += record.pop("data_s")
        self.loss = self.loss + record["loss"]
        self.steps += 1

    def rates(self) -> dict:
        dt = max(1e-9, time.perf_counter() - self.t0)
        return {"samples_per_s": self.samples / dt, "tokens_per_s": self.tokens / dt,
                "data_wait": self.data_s / dt}  # data_wait: share of the time spent waiting for batches


def smoothed(ys: list[float], share: float = 0.05) -> list[float]:
    """Centred moving average over ``share`` of the points on each side, the window shrinking symmetrically at the
    ends: unlike an exponential average it does not lag behind a falling loss (a straight line comes out unchanged)."""
    k = int(len(ys) * share)
    out = []
    for i in range(len(ys)):
        r = min(k, i, len(ys) - 1 - i)
        out.append(sum(ys[i - r:i + r + 1]) / (2 * r + 1))
    return out


def plot_loss(metrics_path: Path, png: Path, key: str = "loss", size=(640, 360)) -> Path | None:
    """A loss curve (raw and smoothed) drawn with PIL, so that no plotting library is needed."""
    from PIL import Image, ImageDraw

    from vgen.io.atomic import atomic_path

    points = [(r["step"], r[key]) for r in read_metrics(metrics_path) if key in r and math.isfinite(r[key])]
    if len(points) < 2:
        return None
    w, h = size
    left, right, top, bottom = 60, 15, 25, 35
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    smooth = smoothed(ys)
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if y1 - y0 < 1e-12:
        y0, y1 = y0 - 1, y1 + 1

    def xy(x, y):
        return (left + (x - x0) / max(1e-12, x1 - x0) * (w - left - right),
                top + (y1 - y) / (y1 - y0) * (h - top - bottom))

    img = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(img)
    draw.rectangle([left, top, w - right, h - bottom], outline=(0, 0, 0))
    for i in range(5):
        y = y0 + (y1 - y0) * i / 4
        py = xy(x0, y)[1]
        draw.line([left - 4, py, left, py], fill=(0, 0, 0))
        draw.text((4, py - 6), f"{y:.3g}", fill=(0, 0, 0))
    draw.text((left, h - bottom + 8), f"step {x0}", fill=(0, 0, 0))
    draw.text((w - right - 70, h - bottom + 8), f"step {x1}", fill=(0, 0, 0))
    draw.text((left, 6), f"{key} (raw, smoothed)", fill=(0, 0, 0))
    draw.line([xy(x, y) for x, y in zip(xs, ys, strict=True)], fill=(170, 190, 230), width=1)
    draw.line([xy(x, y) for x, y in zip(xs, smooth, strict=True)], fill=(20, 60, 200), width=2)
    with atomic_path(png, suffix=".png") as tmp:
        img.save(tmp, format="PNG")
    return png
