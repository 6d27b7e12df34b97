"""Error classes that decide how the CLI ends: a user mistake exits 2 with one line, anything else exits 1."""


class VgenError(Exception):
    """Base of vgen's own errors."""


class UserError(VgenError):
    """A mistake in what the user gave us (a path, a size, a recipe, a name): one line on stderr, exit code 2."""

    exit_code = 2


def nearest_4k1(frames: int) -> tuple[int, int]:
    """The valid frame counts (4k+1) just below and above ``frames``."""
    lower = max(1, (frames - 1) // 4 * 4 + 1)
    return lower, lower + 4


def check_frames_4k1(frames: int) -> None:
    """Raise a UserError naming the nearest valid counts when ``frames`` is not 4k+1."""
    if frames < 1 or (frames - 1) % 4:
        lo, hi = nearest_4k1(max(frames, 1))
        near = f"{lo} or {hi}" if frames > 1 else "1 or 5"
        raise UserError(f"frame count must be 4k+1 (1, 5, 9, ...), got {frames}; nearest valid: {near}")
