"""SAM 2.1 (Meta's ``sam2`` package) as a :class:`~tracker.segmenter.Segmenter`.

The four SAM 2.1 image encoders (Hiera tiny, small, base+ and large) with SAM's prompt
encoder and mask decoder: clicks, boxes and refinement through ``SAM2ImagePredictor``,
"segment everything" through ``SAM2AutomaticMaskGenerator``. As for SAM, the network is
built and loaded once (:func:`load_sam2`) and shared read-only; each session's
:class:`Sam2Segmenter` holds the embedding of the frame being prompted.

``sam2`` is an optional dependency (``pip install 'clicktrack[sam2]'``, installed with
``SAM2_BUILD_CUDA=0``: no CUDA extension, whose only use is filling small holes in masks),
imported only here and only when a SAM 2.1 model is used. Checkpoints are read with
:func:`aot.load_weights_file` (``weights_only=True``); sam2 is never given a checkpoint path.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from aot import WeightsFileError, load_tensor_dict, load_weights_file
from tracker.sam import EVERYTHING_SETTINGS
from tracker.segmenter import Prompt, Segmenter, SegmentResult, check_image, image_key

logger = logging.getLogger(__name__)

#: Architecture (and registry name) -> sam2's config of it.
SAM2_CONFIGS = {
    "sam2.1_hiera_tiny": "configs/sam2.1/sam2.1_hiera_t.yaml",
    "sam2.1_hiera_small": "configs/sam2.1/sam2.1_hiera_s.yaml",
    "sam2.1_hiera_base_plus": "configs/sam2.1/sam2.1_hiera_b+.yaml",
    "sam2.1_hiera_large": "configs/sam2.1/sam2.1_hiera_l.yaml",
}
#: (Hiera width, Hiera blocks) of each architecture, to tell a checkpoint's.
_TRUNKS = {(96, 12): "sam2.1_hiera_tiny", (96, 16): "sam2.1_hiera_small",
           (112, 24): "sam2.1_hiera_base_plus", (144, 48): "sam2.1_hiera_large"}
_BLOCK = re.compile(r"image_encoder\.trunk\.blocks\.(\d+)\.")
MISSING_SAM2 = ("SAM 2.1 needs Meta's sam2 package: SAM2_BUILD_CUDA=0 pip install "
                "'clicktrack[sam2]'")


class Sam2CheckpointError(WeightsFileError):
    """A file that is not a usable SAM 2.1 checkpoint."""


def is_sam2_arch(arch: str | None) -> bool:
    """Whether ``arch`` names a SAM 2.1 architecture (else it is a Segment Anything one)."""
    return arch in SAM2_CONFIGS


def sam2_available() -> bool:
    """Whether the ``sam2`` package can be imported."""
    import importlib.util

    return importlib.util.find_spec("sam2") is not None


def _import_sam2() -> None:
    """Import ``sam2`` (``ImportError`` saying how to install it) and keep its per-frame
    INFO lines out of the log."""
    try:
        import sam2  # noqa: F401
    except ImportError as error:
        raise ImportError(MISSING_SAM2) from error
    _quiet_sam2_logs()


def build_sam2_model(arch: str, device: str | torch.device = "cpu",
                     overrides: Sequence[str] = ()) -> torch.nn.Module:
    """SAM 2.1 of ``arch`` with fresh (random) weights, in eval mode, on ``device``.

    Args:
        arch: a key of :data:`SAM2_CONFIGS`.
        device: where the model lives.
        overrides: Hydra overrides of the config (e.g.
            ``"++model.image_encoder.trunk.embed_dim=8"`` for a toy model in tests).
    """
    if not is_sam2_arch(arch):
        raise ValueError(f"unknown SAM 2.1 architecture {arch!r}; known: "
                         f"{', '.join(SAM2_CONFIGS)}")
    _import_sam2()
    from sam2.build_sam import build_sam2

    model = build_sam2(SAM2_CONFIGS[arch], ckpt_path=None, device=str(device),
                       hydra_overrides_extra=list(overrides))
    model.arch = arch
    return model.eval().requires_grad_(False)


def sam2_arch_of(state: Mapping[str, torch.Tensor]) -> str:
    """The SAM 2.1 architecture of a state dict, from its Hiera image encoder's width and
    depth."""
    patch = state.get("image_encoder.trunk.patch_embed.proj.weight")
    blocks = {int(m.group(1)) for key in state if (m := _BLOCK.match(key))}
    found = _TRUNKS.get((patch.shape[0], len(blocks))) if patch is not None else None
    if found is None:
        raise Sam2CheckpointError("not a SAM 2.1 checkpoint (no Hiera image encoder of a "
                                  "known size)")
    return found


def read_sam2_state(path: str | os.PathLike, arch: str | None = None
                    ) -> tuple[dict[str, torch.Tensor], str]:
    """The state dict of a SAM 2.1 checkpoint (``{"model": state}``, as Meta publishes
    them) and its architecture, read safely.

    Raises:
        Sam2CheckpointError: unreadable, no state dict, or not of ``arch`` (when given).
    """
    path = Path(path)
    try:
        state = load_tensor_dict(path, key="model", what="SAM 2.1 state dict (a dict with the "
                                 "model's weights under 'model')")
    except WeightsFileError as error:
        raise Sam2CheckpointError(str(error)) from error
    found = sam2_arch_of(state)
    if arch is not None and arch != found:
        raise Sam2CheckpointError(f"{path.name} is a {found} checkpoint, not {arch}")
    return state, found


def is_sam2_checkpoint(path: str | os.PathLike) -> bool:
    """Whether ``path`` is laid out as a SAM 2.1 checkpoint (``{"model": state}``), judged
    from the file memory-mapped, without reading its tensors."""
    try:
        contents = load_weights_file(path, mmap=True)
    except (WeightsFileError, FileNotFoundError):
        return False
    return isinstance(contents, dict) and isinstance(contents.get("model"), dict)


def load_sam2(path: str | os.PathLike, arch: str | None = None,
              device: str | torch.device = "cpu") -> torch.nn.Module:
    """Build SAM 2.1 and load a checkpoint into it, strictly (every key and shape).

    Args:
        path: ``sam2.1_hiera_*.pt``.
        arch: a key of :data:`SAM2_CONFIGS`; inferred from the file when ``None``.
        device: where the model lives.

    Raises:
        Sam2CheckpointError: not a SAM 2.1 checkpoint of that architecture.
        ImportError: the ``sam2`` package is not installed.
    """
    path = Path(path)
    state, found = read_sam2_state(path, arch)
    model = build_sam2_model(found)
    try:
        result = model.load_state_dict(state, strict=False)
    except RuntimeError as error:  # shape mismatches
        raise Sam2CheckpointError(f"{path.name} does not fit {found}: "
                                  f"{str(error).splitlines()[-1].strip()}") from error
    if result.missing_keys or result.unexpected_keys:
        raise Sam2CheckpointError(f"{path.name}: missing keys {result.missing_keys[:5]}, "
                                  f"unexpected keys {result.unexpected_keys[:5]}")
    logger.info("loaded %s from %s", found, path)
    return model.to(device)


class Sam2Segmenter(Segmenter):
    """Clicks, boxes, refinement and "segment everything" with a shared SAM 2.1 network.

    Args:
        model: a SAM 2.1 model from :func:`load_sam2` (shared between sessions, not
            modified).
        everything: settings of ``SAM2AutomaticMaskGenerator`` for
            :meth:`segment_everything` (default: SAM-Track's, as for SAM).
    """

    can_segment_everything = True

    def __init__(self, model: torch.nn.Module,
                 everything: Mapping[str, float] = EVERYTHING_SETTINGS) -> None:
        _import_sam2()
        from sam2.sam2_image_predictor import SAM2ImagePredictor

        self.model = model
        self.name = str(getattr(model, "arch", "sam2_custom"))
        self.everything = dict(everything)
        self.predictor = SAM2ImagePredictor(model)
        self._embedded: bytes | None = None

    def _autocast(self) -> contextlib.AbstractContextManager:
        if self.model.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def embed(self, image: np.ndarray) -> None:
        """Compute the image embedding of ``image`` ((H, W, 3) uint8 RGB) unless it is the
        one already held."""
        check_image(image)
        key = image_key(image)
        if key != self._embedded:
            with torch.inference_mode(), self._autocast():
                self.predictor.set_image(image)
            self._embedded = key

    def segment(self, image: np.ndarray, prompt: Prompt,
                previous: SegmentResult | None = None) -> SegmentResult:
        """SAM 2's interactive use: the first prompt on a frame asks for three candidate
        masks and keeps the best scored; later ones refine ``previous`` (its (1, 256, 256)
        low-resolution logits) into one mask."""
        height, width = image.shape[:2]
        prompt.validate(width, height)
        self.embed(image)
        points, labels, box = prompt.as_arrays()
        mask_input = previous.logits if previous is not None else None
        with torch.inference_mode(), self._autocast():
            masks, scores, logits = self.predictor.predict(
                point_coords=points, point_labels=labels, box=box, mask_input=mask_input,
                multimask_output=mask_input is None)
        best = int(np.argmax(scores))
        return SegmentResult(masks[best].astype(bool), self.name, float(scores[best]),
                             logits[best:best + 1])

    def segment_everything(self, image: np.ndarray, min_area: int) -> list[np.ndarray]:
        check_image(image)
        generator = _generator_class()(self.model, **self.everything)
        with torch.inference_mode(), self._autocast():
            segments = generator.generate(image)  # with a predictor of its own
        masks = [s["segmentation"].astype(bool) for s in segments if s["area"] >= min_area]
        return sorted(masks, key=lambda m: -int(m.sum()))


@functools.cache
def _generator_class() -> type:
    """sam2's automatic mask generator, mended for a frame where no mask survives its
    filters in some crop: that crop's boxes keep their (0, 4) shape, which sam2 loses (and
    then fails to merge the crops)."""
    from sam2.automatic_mask_generator import SAM2AutomaticMaskGenerator

    class Generator(SAM2AutomaticMaskGenerator):
        def _process_crop(self, *args, **kwargs):
            data = super()._process_crop(*args, **kwargs)
            if len(data["rles"]) == 0:
                data["crop_boxes"] = torch.zeros((0, 4))
            return data

    return Generator


class _DropSam2Info(logging.Filter):
    """Drops the INFO lines sam2's image predictor writes to the root logger on every
    embedding ("Computing image embeddings ...")."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.levelno <= logging.INFO
                    and f"{os.sep}sam2{os.sep}" in record.pathname)


def _quiet_sam2_logs() -> None:
    """Install :class:`_DropSam2Info` on the root logger, once."""
    root = logging.getLogger()
    if not any(isinstance(f, _DropSam2Info) for f in root.filters):
        root.addFilter(_DropSam2Info())
