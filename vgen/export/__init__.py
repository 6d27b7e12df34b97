"""The export stage: any registered format (vgen.contract.export) applied to any pipeline's parts.

parts: what gets exported (a module with named tensor inputs and symbolic axes) and random inputs for it; capture:
the parts of a VideoPipeline, found by watching one real call; exporting: one export run (artifacts -> parity gate ->
manifest -> rename); parity: the gate; run: ``vgen export`` from its settings. The engine folder it writes, and
running one inside a pipeline, is vgen.engines (shared with ``vgen sample --engine``). Nothing here names a format or
a model.
"""
