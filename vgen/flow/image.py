"""Image-to-video: the first frame, fitted to the video size and encoded to the first latent frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from vgen.errors import UserError


def load_image(image) -> np.ndarray:
    """uint8 (H, W, 3) from a path, a PIL image, or an array/tensor (H, W, 3) uint8 or float in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.is_file():
            raise UserError(f"image file not found: {path}")
        try:
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))
        except (UnidentifiedImageError, OSError) as exc:
            raise UserError(f"{path}: cannot read image: {exc}") from None
    if hasattr(image, "convert"):
        return np.asarray(image.convert("RGB"))
    from vgen.io.video import to_uint8

    arr = to_uint8(image)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise UserError(f"image must be (H, W, 3), got {tuple(arr.shape)}")
    return arr


def fit(image: np.ndarray, height: int, width: int) -> tuple[np.ndarray, str | None]:
    """Resize to cover (height, width) keeping the aspect, then centre-crop; returns the note to show, if any."""
    from PIL import Image

    h, w = image.shape[:2]
    if (h, w) == (height, width):
        return image, None
    scale = max(height / h, width / w)
    nh, nw = max(height, round(h * scale)), max(width, round(w * scale))
    resized = np.asarray(Image.fromarray(image).resize((nw, nh), Image.BICUBIC))
    top, left = (nh - height) // 2, (nw - width) // 2
    note = f"image {w}x{h} resized to {nw}x{nh}" + (f" and centre-cropped to {width}x{height}"
                                                      if (nh, nw) != (height, width) else "")
    return resized[top:top + height, left:left + width], note


def image_latent(pipe, image: np.ndarray, batch: int, device, dtype) -> torch.Tensor:
    """The scaled latent (batch, C, 1, h, w) float32 of one frame (posterior mean)."""
    x = torch.from_numpy(np.ascontiguousarray(image)).to(torch.float32).div(127.5).sub(1.0)
    video = x.permute(2, 0, 1)[None, :, None].to(device=device, dtype=dtype)  # (1, 3, 1, H, W)
    with torch.no_grad():
        latent = pipe.encode_video(video)
    return latent.to(torch.float32).expand(batch, -1, -1, -1, -1).clone()
