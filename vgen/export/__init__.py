"""The export stage: any registered format (vgen.contract.export) applied to any pipeline's parts.

parts: what gets exported (a module with named tensor inputs and symbolic axes) and random inputs for it; capture:
the parts of a VideoPipeline, found by watching one real call; formats: the registered exporters by name; exporting:
one export run (artifacts -> parity gate -> manifest -> rename); parity: the gate; manifest: the engine folder's
JSON and its checks; engines: artifact-backed stand-ins swapped into a pipeline for ``vgen sample --engine``;
run: ``vgen export`` from its settings. Nothing here names a format or a model.
"""
