"""What ``register_exporters`` registers: an ``Exporter`` (one artifact format) and the ``Runtime`` that runs it.

``register(name, factory, description=...)``; ``factory() -> Exporter`` (no arguments; keep heavy imports inside the
exporter's methods so that start-up stays fast). One registration gives both directions: ``vgen export NAME`` writes
artifacts with ``exporter.export`` and ``vgen sample --engine NAME`` runs them through ``exporter.runtime``.

vgen does the rest, the same for every format. The export stage (vgen.export) finds the parts of a pipeline (DiT,
VAE decoder, text encoders) by watching one real call, casts each part to the export dtype, calls ``export`` into a
temporary folder, runs the parity gate (``runtime(...)`` against PyTorch on fresh inputs at two sizes), writes the
engine folder's manifest (``vgen-engine.json``: format name, parts, files with sha256, shapes) and renames the folder
into place. At sampling time vgen.engines checks the folder against the manifest, swaps a stand-in for each part into
the pipeline and calls the runtime with the part's tensors in the order of ``part.inputs``.

A complete format in a few lines (ONNX graphs run by onnx's pure-Python reference evaluator: slow, but it needs no
native runtime, so it can check a graph anywhere; uses the ``export`` extra: onnx, onnxscript)::

    from pathlib import Path

    import torch

    from vgen.contract.export import ExporterBase
    from vgen.hookspecs import hookimpl


    class ReferenceRuntime:
        provider = "onnx-reference"

        def __init__(self, path: Path):
            from onnx.reference import ReferenceEvaluator

            self.evaluator = ReferenceEvaluator(str(path))

        def __call__(self, tensors):
            names = self.evaluator.input_names
            feed = {n: t.detach().cpu().numpy() for n, t in zip(names, tensors, strict=True)}
            return torch.from_numpy(self.evaluator.run(None, feed)[0])


    class OnnxReference(ExporterBase):
        name = "onnx-reference"

        def export(self, part, example, folder, options):
            axes = tuple({axis: torch.export.Dim.DYNAMIC for axis in dims} for dims in part.dynamic_axes())
            program = torch.onnx.export(part.module, tuple(example), input_names=part.input_names,
                                        output_names=[part.output], dynamic_shapes=(axes,), dynamo=True)
            program.save(str(folder / f"{part.name}.onnx"))
            return [f"{part.name}.onnx"]

        def runtime(self, folder, part, device):
            return ReferenceRuntime(folder / f"{part['name']}.onnx")


    @hookimpl
    def register_exporters(register):
        register("onnx-reference", OnnxReference, description="ONNX run by onnx's reference evaluator (CPU, slow)")

Then ``vgen export onnx-reference --pipeline P --out engines/ref`` and
``vgen sample "a cat" --pipeline P --engine onnx-reference --engine-dir engines/ref``.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # torch stays unimported until an export or an engine is used
    import torch

    from vgen.export.parts import Part


@runtime_checkable
class Runtime(Protocol):
    """One exported part loaded for running: the stand-in for the part inside the sampling loop, and what the
    parity gate checks against PyTorch right after the export."""

    # what actually runs the artifact (e.g. "CPUExecutionProvider", "tensorrt-10.3", "aoti-cuda"): shown by the
    # parity gate and recorded in the manifest and in each sample's sidecar, so a number can be traced to it
    provider: str

    def __call__(self, tensors: list[torch.Tensor]) -> torch.Tensor:
        """Run the part on its input tensors (in the order of the manifest's ``inputs``, already in the dtypes the
        part was exported with, on any device) and return its one output; vgen moves and casts it back."""


@runtime_checkable
class Exporter(Protocol):
    """One artifact format: writes a part's files, and loads them again as a ``Runtime``.

    Subclass ``ExporterBase`` to write only ``name``, ``export`` and ``runtime``.
    """

    # the registered name; the manifest records it, so an engine folder finds its runtime again by this name
    name: str
    # the ``vgen export`` options this format reads, with their defaults (built-in flags: opset, precision,
    # timing_cache; external_data from Python). A user who sets an option the format does not read gets an error
    # instead of an artifact silently built without it. ``export`` gets these plus dtype, device and ranges.
    options: Mapping[str, Any]

    def available(self) -> str:
        """What this format runs with here (versions, devices), shown by ``vgen doctor``; raise RuntimeError(reason)
        when it cannot run on this machine (the reason says what to install)."""

    def check(self, options: dict) -> None:
        """Refuse (UserError) options this format cannot honour before any model loads, e.g. a device it cannot
        build for; ``options`` is what ``export`` will get, except ``ranges`` (None: the sizes are not known yet)."""

    def export(self, part: Part, example: list[torch.Tensor], folder: Path, options: dict) -> list[str]:
        """Write ``part`` as artifact files into ``folder`` and return their names (the manifest hashes them).

        ``part.module(*example)`` is the computation (one tensor out, already cast to the export dtype and on the
        export device); ``part.input_names``/``part.output`` name its inputs and output; ``part.dynamic_axes()``
        gives, per input, the axes whose size changes between calls (batch, frames, height, width, text length):
        those must stay symbolic in the artifact. ``options``: ``dtype`` ("fp32" | "fp16" | "bf16"), ``device``
        (torch.device), ``ranges`` ({"min"|"opt"|"max": role sizes}: the span of sizes to support, e.g. for
        optimization profiles; ``part.inputs[i].concrete(sizes)`` turns them into shapes), and each of ``options``.
        Raise UserError with one line when the export fails for a reason the user can fix.
        """

    def gate_skipped(self, options: dict) -> str | None:
        """Why the parity gate cannot run these artifacts in this process (recorded in the manifest and warned
        about), or None: it runs. E.g. onnxruntime's Python API cannot feed bfloat16."""

    def runtime(self, folder: Path, part: dict, device: torch.device) -> Runtime:
        """Load the artifacts of one part from an engine folder for running on ``device``.

        ``part`` is the part's manifest entry: ``name``, ``inputs`` (name, shape with role names, dtype), ``output``,
        ``files``, ``device`` (what it was exported on) and the rest of what vgen recorded. The folder's files have
        been checked against the manifest already. Raise UserError with one line when it cannot run here (wrong
        device, missing package).
        """


class ExporterBase(abc.ABC):
    """Defaults for an ``Exporter``: no options, no prerequisites, no checks, a parity gate that always runs;
    a subclass writes ``name``, ``export`` and ``runtime``."""

    name = ""
    options: Mapping[str, Any] = {}

    def available(self) -> str:
        """Override when the format needs packages or hardware (raise RuntimeError naming what to install)."""
        return "no prerequisites"

    def check(self, options: dict) -> None:
        return None

    @abc.abstractmethod
    def export(self, part: Part, example: list[torch.Tensor], folder: Path, options: dict) -> list[str]:
        """See ``Exporter.export``."""

    def gate_skipped(self, options: dict) -> str | None:
        return None

    @abc.abstractmethod
    def runtime(self, folder: Path, part: dict, device: torch.device) -> Runtime:
        """See ``Exporter.runtime``."""
