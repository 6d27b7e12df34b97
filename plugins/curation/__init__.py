"""First-party curation stages (HunyuanVideo / MovieGen style): probe, shot split, cut, quality and motion filters,
text-overlay and near-duplicate detection, camera-motion labels and captioners.

Stage modules import OpenCV / PySceneDetect / PyAV only when a stage is built, so ``vgen`` starts fast.
"""

from vgen.hookspecs import hookimpl


def _lazy(module: str, cls: str):
    def factory(settings, **kwargs):
        import importlib

        return getattr(importlib.import_module(f"vgen_plugins.curation.{module}"), cls)(settings, **kwargs)

    return factory


STAGES = [
    ("probe", "probe", "Probe", "source", "PyAV probe: duration, fps, size, codec, audio; rejects unreadable inputs"),
    ("aspect", "quality", "Aspect", "source", "reject sources below min_side or outside the aspect-ratio range"),
    ("shots", "shots", "ShotSplitter", "split", "PySceneDetect shot split (adaptive, content, hash, histogram detectors; one decode)"),
    ("cut", "shots", "Cutter", "cut", "cut shots into min-max duration clips, trimming frames next to cuts"),
    ("sharpness", "quality", "Sharpness", "clip", "edge sharpness (Laplacian over gradient); clearest start frame; rejects blur"),
    ("motion", "motion", "Motion", "clip", "OpenCV optical-flow speed and jitter; rejects static and shaky clips"),
    ("brightness", "quality", "Brightness", "clip", "mean luma and clipped pixels; rejects dark/bright/overexposed"),
    ("text", "text", "TextOverlay", "clip", "burnt-in text: area of persistent text lines (MSER characters or a gradient heuristic)"),
    ("phash", "phash", "PHash", "clip", "perceptual hash for near-duplicate removal"),
    ("camera-motion", "motion", "CameraMotion", "clip", "camera-motion label, HunyuanVideo's 14 classes (flow model + homography/parallax geometry)"),
    ("sidecar", "captions", "Sidecar", "caption", "caption from a text file next to the source video"),
    ("template", "captions", "Template", "caption", "caption from a template over labels and scores"),
    ("vlm", "vlm", "VLMCaptioner", "caption", "structured JSON caption from a local vision-language model folder"),
]


@hookimpl
def register_curation_stages(register):
    for name, module, cls, kind, description in STAGES:
        register(name, _lazy(module, cls), kind=kind, description=description)
