"""COCO run-length encoding (pycocotools), as COCO, YouTube-VIS, SA-V and MOTS store masks."""

from __future__ import annotations

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE (compressed counts as text) of an (H, W) bool mask."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": [int(s) for s in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: dict) -> np.ndarray:
    """(H, W) bool mask of a COCO RLE: compressed counts (text, as :func:`encode_rle` writes
    them) or uncompressed ones (a list of run lengths, as YouTube-VIS ground truth has)."""
    counts, size = rle["counts"], [int(s) for s in rle["size"]]
    if isinstance(counts, list):
        compressed = mask_utils.frPyObjects({"size": size, "counts": counts}, *size)
    else:
        compressed = {"size": size,
                      "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
    return mask_utils.decode(compressed) > 0


def decode_polygons(polygons: list[list[float]], height: int, width: int) -> np.ndarray:
    """(H, W) bool mask of COCO polygons ``[[x0, y0, x1, y1, ...], ...]``."""
    rles = mask_utils.frPyObjects(polygons, height, width)
    return mask_utils.decode(mask_utils.merge(rles)) > 0


def empty_rle(height: int, width: int) -> dict:
    """The RLE of an all-background (H, W) mask."""
    return encode_rle(np.zeros((height, width), bool))
