"""Small models and real frames shared by the tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch

from aot.config import VARIANTS
from aot.model.deaot import DeAOT
from aot.synthetic import synthetic_model_state
from aot.reference import load_case


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
