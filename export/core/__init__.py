"""The export machinery (torch-heavy, so it lives below the light plugin modules of ``vgen_export``).

parts: what gets exported (a module with named tensor inputs and symbolic axes) and random inputs for it;
capture: parts of a VideoPipeline found by watching one real call; onnx_format / aoti_format / tensorrt_format:
one file per artifact format (export + runner); parity: the gate every export ends with; manifest: the engine
directory's JSON and its checks; exporting: the whole ``vgen export`` run; runtime: artifact-backed stand-ins.
"""
