"""vgen's built-in export formats (installed as ``vgen_export``): ``onnx``, ``tensorrt`` and ``aoti``.

Each subpackage registers its format through ``register_exporters`` as a third-party plugin would (vgen.contract.
export); its ``__init__`` stays light because the plugin scan imports it at every start-up, and the work is in the
module beside it. The machinery every format shares (capture, parity gate, manifest, engines) is vgen.export.
"""
