"""Small models and real frames shared by the tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from aot.config import VARIANTS
from aot.model.deaot import DeAOT
from aot.bench.synthetic_weights import synthetic_model_state
from aot.bench.reference_cases import load_case


#: Seed of the synthetic validation clips, which choose settings (never the held-out seed).
VALIDATION_SEED = 424242


def validation_clip(index: int) -> tuple[np.ndarray, np.ndarray]:
    """Validation clip ``index`` as the benchmark makes it: (30, 161, 161, 3) uint8 frames and
    (30, 161, 161) uint8 labels."""
    from aot.train.synthetic_clips import SyntheticClips

    return SyntheticClips(VALIDATION_SEED, (161, 161), 30, max_objects=3)[index]


def synthetic_model(variant: str = "deaott", seed: int = 0) -> DeAOT:
    """A variant with the deterministic synthetic weights, in eval mode."""
    model = DeAOT(VARIANTS[variant])
    model.load_state_dict(synthetic_model_state(model, seed))
    return model.eval().requires_grad_(False)


def save_checkpoint(model: torch.nn.Module, path: Path, prefix: str = "", **extra) -> Path:
    """Write ``model`` in the official release format."""
    state = {prefix + k: v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, **extra}, path)
    return path


def bikes_clip(size: tuple[int, int] = (136, 320)) -> tuple[list[np.ndarray], np.ndarray]:
    """The reference case's real frames and 2-object mask, resized to (H, W)."""
    case = load_case("deaott_bikes_2obj")
    h, w = size
    frames = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in case.arrays["frames"]]
    mask = cv2.resize(case.arrays["mask_0"], (w, h), interpolation=cv2.INTER_NEAREST)
    return frames, mask
