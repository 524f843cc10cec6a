"""Limits on what an input may decode to, checked before the pixels are decoded.

A few kilobytes of PNG or zip can claim gigabytes once decoded (a "decompression bomb"), and
a video can hold more frames than anyone meant to track. Every source checks its frames'
declared size, its frame count and the bytes of each stored frame against
:class:`VideoLimits` before it decodes them, and refuses with a :class:`VideoError` that
names the limit and the setting that raises it.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image


class VideoError(ValueError):
    """A video that cannot be read: missing, corrupt, empty, of mixed frame sizes, or larger
    than the limits allow."""


@dataclass(frozen=True)
class VideoLimits:
    """How large an input may be.

    Attributes:
        max_frame_pixels: width x height of one frame (default 4096 x 4096, beyond 4K UHD).
        max_frames: frames in one video (default 100,000: over an hour at 25 fps).
        max_frame_bytes: stored (compressed) bytes of one image of a folder or zip of
            frames (default 64 MiB).
    """

    max_frame_pixels: int = 4096 * 4096
    max_frames: int = 100_000
    max_frame_bytes: int = 64 * 2 ** 20

    def __post_init__(self) -> None:
        for name in ("max_frame_pixels", "max_frames", "max_frame_bytes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")

    def check_frame_size(self, name: str, width: int, height: int) -> None:
        """Refuse a ``width`` x ``height`` frame of ``name`` above :attr:`max_frame_pixels`."""
        if width * height > self.max_frame_pixels:
            raise VideoError(f"{name}: frames are {width}x{height} = {width * height:,} pixels, "
                             f"more than the limit of {self.max_frame_pixels:,} "
                             "(--max-frame-pixels raises it)")

    def check_frame_count(self, name: str, count: int) -> None:
        """Refuse a video of ``count`` frames above :attr:`max_frames`."""
        if count > self.max_frames:
            raise VideoError(f"{name}: {count:,} frames, more than the limit of "
                             f"{self.max_frames:,} (--max-frames raises it)")

    def check_frame_bytes(self, name: str, size: int) -> None:
        """Refuse a stored image of ``size`` bytes above :attr:`max_frame_bytes`."""
        if size > self.max_frame_bytes:
            raise VideoError(f"{name}: {size / 2 ** 20:,.1f} MiB for one image, more than the "
                             f"limit of {self.max_frame_bytes / 2 ** 20:,.0f} MiB "
                             "(--max-frame-mb raises it)")

    def check_image_header(self, data: bytes, name: str) -> None:
        """Read an encoded image's declared size from its header, without decoding its
        pixels, and refuse it above :attr:`max_frame_pixels`. Formats Pillow cannot
        identify pass; their decoded size is checked after decoding."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            try:
                with Image.open(io.BytesIO(data)) as image:
                    width, height = image.size
            except Image.DecompressionBombError:
                raise VideoError(f"{name}: the image declares more pixels than can be decoded "
                                 f"safely (limit {self.max_frame_pixels:,}, "
                                 "--max-frame-pixels)") from None
            except (OSError, SyntaxError, ValueError):
                return
        self.check_frame_size(name, width, height)
