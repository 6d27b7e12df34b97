"""Engine folders: what ``vgen export`` writes and ``vgen sample --engine`` runs, shared by the two stages.

manifest: ``vgen-engine.json`` (format name, parts, files with sha256, dtypes, weight signatures) and its checks;
formats: the registered export formats by name (vgen.contract.export); standins: artifact-backed stand-ins swapped
into a pipeline (``apply_engine``). Nothing here names a format or a model.
"""
