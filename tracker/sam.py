"""Segment Anything (the ``segment-anything`` package) as a :class:`Segmenter`.

The SAM network is loaded once (:func:`load_sam`) and shared read-only; each session makes
its own :class:`SamSegmenter`, which holds the image embedding of the frame being prompted
and reuses it for every click on that frame. Checkpoints are read with
``weights_only=True``; frames are given to SAM as RGB.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import numpy as np
import torch

from aot import WeightsFileError, load_tensor_dict
from tracker.segmenter import Prompt, Segmenter, SegmentResult, check_image, image_key

logger = logging.getLogger(__name__)

SAM_ARCHS = ("vit_b", "vit_l", "vit_h")
_EMBED_DIMS = {768: "vit_b", 1024: "vit_l", 1280: "vit_h"}

#: SAM-Track's "segment everything" settings of SamAutomaticMaskGenerator.
EVERYTHING_SETTINGS = {
    "points_per_side": 16,
    "pred_iou_thresh": 0.8,
    "stability_score_thresh": 0.9,
    "crop_n_layers": 1,
    "crop_n_points_downscale_factor": 2,
    "min_mask_region_area": 200,
}


class SamCheckpointError(WeightsFileError):
    """A file that is not a usable SAM checkpoint."""


def sam_arch_of(state: dict[str, torch.Tensor]) -> str:
    """vit_b, vit_l or vit_h, from the image encoder's width."""
    pos = state.get("image_encoder.pos_embed")
    if pos is None or pos.shape[-1] not in _EMBED_DIMS:
        raise SamCheckpointError("not a Segment Anything checkpoint (no image encoder of a "
                                 "known width)")
    return _EMBED_DIMS[pos.shape[-1]]


def read_sam_state(path: str | os.PathLike, arch: str | None = None
                   ) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict of a SAM checkpoint file and its architecture, read safely.

    Raises:
        SamCheckpointError: unreadable, no state dict, or not of ``arch`` (when given).
    """
    path = Path(path)
    try:
        state = load_tensor_dict(path, what="SAM state dict")
    except WeightsFileError as error:
        raise SamCheckpointError(str(error)) from error
    found = sam_arch_of(state)
    if arch is not None and arch != found:
        raise SamCheckpointError(f"{path.name} is a SAM {found} checkpoint, not {arch}")
    return state, found


def check_sam_layout(state: dict[str, torch.Tensor], arch: str, source: str) -> None:
    """Raise :class:`SamCheckpointError` unless ``state`` has exactly the keys and shapes of
    segment-anything's ``arch`` model (built on the meta device: no memory, no init)."""
    from segment_anything import sam_model_registry

    with torch.device("meta"):
        expected = sam_model_registry[arch](checkpoint=None).state_dict()
    missing = sorted(expected.keys() - state.keys())
    unexpected = sorted(state.keys() - expected.keys())
    mis_shaped = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}"
                  for k, v in expected.items() if k in state and state[k].shape != v.shape]
    problems = [f"{len(found)} {what}: {', '.join(found[:5])}" for what, found in (
        ("missing keys", missing), ("unexpected keys", unexpected),
        ("shape mismatches", mis_shaped)) if found]
    if problems:
        raise SamCheckpointError(f"{source} does not fit SAM {arch}: " + "; ".join(problems))


def load_sam(path: str | os.PathLike, arch: str | None = None,
             device: str | torch.device = "cpu") -> torch.nn.Module:
    """Build SAM and load an official checkpoint into it, strictly and safely.

    Args:
        path: ``sam_vit_*.pth``.
        arch: vit_b, vit_l or vit_h; inferred from the file when ``None``.
        device: where the model lives.
    """
    from segment_anything import sam_model_registry

    path = Path(path)
    state, found = read_sam_state(path, arch)
    model = sam_model_registry[found](checkpoint=None)
    result = model.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise SamCheckpointError(f"{path.name}: missing keys {result.missing_keys[:5]}, "
                                 f"unexpected keys {result.unexpected_keys[:5]}")
    logger.info("loaded SAM %s from %s", found, path)
    model.arch = found
    return model.eval().requires_grad_(False).to(device)


class SamSegmenter(Segmenter):
    """Clicks, boxes, refinement and "segment everything" with a shared SAM network.

    Args:
        model: a SAM model from :func:`load_sam` (shared between sessions, not modified).
    """

    can_segment_everything = True

    def __init__(self, model: torch.nn.Module) -> None:
        from segment_anything import SamPredictor

        self.model = model
        self.name = f"sam_{getattr(model, 'arch', 'custom')}"
        self.predictor = SamPredictor(model)
        self._embedded: bytes | None = None

    def _autocast(self) -> contextlib.AbstractContextManager:
        device = next(self.model.parameters()).device
        if device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def embed(self, image: np.ndarray) -> None:
        """Compute the image embedding of ``image`` unless it is the one already held."""
        check_image(image)
        key = image_key(image)
        if key != self._embedded:
            with torch.inference_mode(), self._autocast():
                self.predictor.set_image(image, image_format="RGB")
            self.predictor.features = self.predictor.features.float()
            self._embedded = key

    def segment(self, image: np.ndarray, prompt: Prompt,
                previous: SegmentResult | None = None) -> SegmentResult:
        height, width = image.shape[:2]
        prompt.validate(width, height)
        self.embed(image)
        points, labels, box = prompt.as_arrays()
        mask_input = previous.logits if previous is not None else None
        with torch.inference_mode():
            masks, scores, logits = self.predictor.predict(
                point_coords=points, point_labels=labels, box=box, mask_input=mask_input,
                multimask_output=mask_input is None)
            best = int(np.argmax(scores))
            if mask_input is None:
                # Refine the best of the three candidates with its own logits (SAM-Track).
                masks, scores, logits = self.predictor.predict(
                    point_coords=points, point_labels=labels, box=box,
                    mask_input=logits[best:best + 1], multimask_output=False)
                best = 0
        return SegmentResult(masks[best].astype(bool), self.name, float(scores[best]),
                             logits[best:best + 1])

    def segment_everything(self, image: np.ndarray, min_area: int) -> list[np.ndarray]:
        from segment_anything import SamAutomaticMaskGenerator

        check_image(image)
        generator = SamAutomaticMaskGenerator(self.model, **EVERYTHING_SETTINGS)
        with torch.inference_mode(), self._autocast():
            segments = generator.generate(image)
        masks = [s["segmentation"].astype(bool) for s in segments if s["area"] >= min_area]
        return sorted(masks, key=lambda m: -int(m.sum()))
