"""The ``[curate]`` recipe section: which stages run, in what order, and every threshold they use.

Units: durations in seconds; motion speeds in frame widths per second (so they do not depend on resolution);
sharpness is the edge sharpness of the grey frame at ``analysis_width`` (quality.laplacian_variance); brightness in [0, 1].
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vgen.settings import section


@section("curate")
class CurateSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VGEN_CURATE_", extra="forbid")

    # composition: stage names registered through `register_curation_stages`, run in this order. Source stages
    # (probe, aspect) come first, then one splitter (shots), one cutter (cut), then clip stages (scores, filters,
    # labels); `captioners` are tried in order after a clip is written, the first text becomes the caption.
    stages: list[str] = ["probe", "aspect", "shots", "cut", "brightness", "sharpness", "motion", "text", "phash",
                         "camera-motion"]
    captioners: list[str] = ["sidecar", "template"]
    extensions: list[str] = [".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v", ".ts", ".mpg", ".mpeg", ".flv", ".wmv"]
    workers: int = Field(1, ge=1)  # local process pool size (1: run in this process)
    engine: Literal["local", "ray"] = "local"
    ray_address: str | None = None  # join this Ray cluster; unset starts a local Ray with `workers` CPUs

    # aspect / minimum size (MovieGen keeps a minimum side of 720 px for its final sets)
    min_side: int = Field(256, ge=1)
    min_aspect: float = 0.4  # width / height
    max_aspect: float = 2.5

    # shot split with PySceneDetect: detectors among "adaptive", "content", "hash" and "histogram", all fed from one
    # decode; with several, `combine` decides: intersection (a cut every detector finds, +-1 frame), union (any),
    # majority (more than half of them)
    detectors: list[Literal["adaptive", "content", "hash", "histogram"]] = ["adaptive", "histogram"]
    combine: Literal["intersection", "union", "majority"] = "union"
    adaptive_threshold: float = 3.0
    content_threshold: float = 27.0
    hash_threshold: float = 0.395
    histogram_threshold: float = 0.05
    min_shot_frames: int = Field(8, ge=1)
    detect_width: int = 256  # frames are downscaled to about this width before detection

    # cutting shots into clips
    min_duration: float = Field(4.0, gt=0, le=86400, allow_inf_nan=False)
    max_duration: float = Field(16.0, gt=0, le=86400, allow_inf_nan=False)
    trim_frames: int = Field(2, ge=0)  # frames dropped next to each cut (fades and encoder smear)
    sharp_start_search: float = 0.5  # seconds at a clip's start searched for the clearest first frame
    stream_copy: bool = True  # copy packets when the clip starts on a keyframe and ends on one (or at the end)
    crf: int = 18  # re-encode quality when stream copy is not possible
    preset: str = "veryfast"

    # analysis: frames are decoded, resized to this width and sampled at `analysis_fps` for optical flow
    analysis_width: int = 160
    analysis_fps: float = 8.0

    # filters (a clip failing one is kept in the manifest as rejected with the reason)
    min_sharpness: float = 27.0  # reason "blurry" (edge sharpness: ~55 crisp, ~20 after a sigma-2 blur)
    min_motion: float = 0.01  # mean optical-flow speed; reason "static" when below, and also below min_moving:
    min_moving: float = 0.01  # share of pixels faster than moving_speed (moving objects over a still camera)
    moving_speed: float = 0.05  # a pixel faster than this moves
    max_jitter: float = 0.35  # spread of the global motion over time; reason "too_shaky"
    min_brightness: float = 0.08  # reason "too_dark"
    max_brightness: float = 0.92  # reason "too_bright"
    max_clipped: float = 0.5  # fraction of pixels at black or white; reason "overexposed"
    max_text: float = 0.03  # fraction of the frame covered by persistent text-like boxes; reason "text"
    # how text boxes are found: "mser" (character-shaped MSER regions chained into lines; on benchmarks/curate_text.py
    # precision 1.00, recall 0.80, every miss a small corner watermark under max_text) or "heuristic" (morphological
    # gradient boxes: precision 0.68-0.77, recall 0.65-0.68, misses titles, fires on rows of windows)
    text_detector: Literal["heuristic", "mser"] = "mser"
    dedup: bool = True  # near-duplicates by perceptual hash: the later clip is rejected, reason "duplicate"
    dedup_max_distance: int = Field(6, ge=0, le=64)  # Hamming distance (of 64 bits) counted as a duplicate

    # camera motion labels (HunyuanVideo's 14 classes): static/handheld from the global flow model, pan (translation),
    # tilt (rotation) and around (orbit) from a homography and its parallax (plugins/curation/camera.py)
    static_max: float = 0.02  # below this global speed a clip is a static shot
    handheld_min: float = 0.08  # jitter above this (and above the steady speed) is a handheld shot

    # captions
    caption_template: str = "{camera_motion}, {brightness_word}, {duration:.0f} seconds"
    camera_prefix: bool = True  # MovieGen prefixes the camera-motion label to every caption
    sidecar_suffixes: list[str] = [".txt", ".caption"]

    # outputs
    thumb_width: int = 160
    buckets_duration: list[float] = [4, 6, 8, 12, 16]  # duration bucket edges, seconds
    stage_options: dict[str, dict] = {}  # free-form settings for third-party stages, by stage name

    @model_validator(mode="after")
    def _durations_in_order(self):
        if self.min_duration > self.max_duration:
            raise ValueError(f"min_duration ({self.min_duration:g} s) is above max_duration ({self.max_duration:g} s)")
        return self
