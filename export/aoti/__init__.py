"""AOTInductor: a ``.pt2`` package (torch.export + ahead-of-time compile) for the CPU or a CUDA device.

The work is in ``vgen_export.aoti.package`` (imported on use: the plugin scan imports this module at start-up).
"""

from __future__ import annotations

import shutil

from vgen.contract.export import ExporterBase
from vgen.hookspecs import hookimpl


class Aoti(ExporterBase):
    name = "aoti"

    def available(self) -> str:
        import torch

        compiler = shutil.which("g++") or shutil.which("c++") or shutil.which("clang++")
        if compiler is None:
            raise RuntimeError("AOTInductor needs a C++ compiler (e.g. apt-get install g++)")
        where = "cpu, cuda" if torch.cuda.is_available() else "cpu"
        return f"torch {torch.__version__} ({where}), {compiler}"

    def export(self, part, example, folder, options) -> list[str]:
        from vgen_export.aoti.package import export

        return export(part, example, folder)

    def runtime(self, folder, part, device):
        from vgen_export.aoti.package import AotiRuntime

        return AotiRuntime(folder, part, device)


@hookimpl
def register_exporters(register):
    register("aoti", Aoti, description="AOTInductor .pt2 package (torch.export + ahead-of-time compile) for cpu or cuda")
