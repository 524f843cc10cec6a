"""Per-frame label maps on disk as DAVIS-style palette PNGs (pixel value = object id)."""

from __future__ import annotations

import io
import os
import re
import warnings
from pathlib import Path

import numpy as np
from PIL import Image

from tracker.atomic import write_bytes

_NAME = re.compile(r"^(\d{5,})\.png$")


def davis_palette() -> np.ndarray:
    """(256, 3) uint8 colours: the palette of DAVIS annotations (id 0 is black)."""
    ids = np.arange(256)
    palette = np.zeros((256, 3), np.int64)
    for bit in range(8):
        palette[:, 0] |= ((ids >> (3 * bit)) & 1) << (7 - bit)
        palette[:, 1] |= ((ids >> (3 * bit + 1)) & 1) << (7 - bit)
        palette[:, 2] |= ((ids >> (3 * bit + 2)) & 1) << (7 - bit)
    return palette.astype(np.uint8)


PALETTE = davis_palette()


def encode_png(labels: np.ndarray) -> bytes:
    """(H, W) uint8 ids -> palette PNG bytes."""
    image = Image.fromarray(labels.astype(np.uint8), mode="P")
    image.putpalette(PALETTE.reshape(-1).tolist())
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=1)
    return buffer.getvalue()


def read_label_png(path: str | os.PathLike, size: tuple[int, int] | None = None) -> np.ndarray:
    """A label PNG as (H, W) uint8 ids.

    Palette PNGs give their indices; greyscale PNGs their values. RGB(A) PNGs are accepted
    when every colour is a DAVIS palette colour (annotations saved by other tools).

    Args:
        path: the PNG.
        size: expected (width, height); a mismatch raises ``ValueError``.
    """
    name = Path(path).name
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
            if size is not None and image.size != tuple(size):  # checked before decoding
                raise ValueError(f"{name} is {image.size[0]}x{image.size[1]}, the video "
                                 f"{size[0]}x{size[1]}")
            image.load()
    except Image.DecompressionBombError as error:
        raise ValueError(f"{name}: the image declares more pixels than can be decoded "
                         f"safely ({error})") from error
    except (OSError, SyntaxError) as error:
        raise ValueError(f"{name}: not a readable image ({error})") from error
    if image.mode in ("P", "L"):
        return np.asarray(image, dtype=np.uint8).copy()
    if image.mode in ("1", "I", "I;16"):
        labels = np.asarray(image)
        if labels.max() > 255:
            raise ValueError(f"{Path(path).name}: ids above 255")
        return labels.astype(np.uint8)
    rgb = np.asarray(image.convert("RGB"))
    codes = (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    table = (PALETTE[:, 0].astype(np.int64) << 16) | (PALETTE[:, 1].astype(np.int64) << 8) \
        | PALETTE[:, 2]
    lookup = {int(code): i for i, code in enumerate(table)}
    unique, inverse = np.unique(codes, return_inverse=True)
    try:
        ids = np.array([lookup[int(code)] for code in unique], np.uint8)
    except KeyError as error:
        raise ValueError(f"{Path(path).name}: colour #{int(error.args[0]):06x} is no object "
                         "id (use a palette or greyscale PNG of ids)") from error
    return ids[inverse].reshape(rgb.shape[:2])


class MaskStore:
    """A folder ``00000.png, 00001.png, ...`` of label maps, written atomically."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)

    def path(self, index: int) -> Path:
        return self.folder / f"{index:05d}.png"

    def write(self, index: int, labels: np.ndarray) -> None:
        """Store frame ``index``'s (H, W) uint8 labels."""
        write_bytes(self.path(index), encode_png(labels))

    def read(self, index: int) -> np.ndarray | None:
        """Frame ``index``'s labels, or ``None`` if not stored."""
        path = self.path(index)
        return read_label_png(path) if path.exists() else None

    def indices(self) -> list[int]:
        """Indices of the stored frames, ascending."""
        return sorted(int(m.group(1)) for p in self.folder.iterdir()
                      if (m := _NAME.match(p.name)))

    def clear(self) -> None:
        """Delete every stored frame."""
        for index in self.indices():
            self.path(index).unlink(missing_ok=True)
