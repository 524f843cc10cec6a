"""Text prompts to boxes: Grounding DINO, a grounded object detector, through ``transformers``.

Grounding DINO (Liu et al., 2023) scores each of its queries' boxes against every token of
the prompt; a box is kept when its best token scores at least the box threshold, and it is
labelled with the prompt's tokens that score at least the text threshold (SAM-Track's two
thresholds, both 0.25 by default). The model is a folder in Hugging Face's layout (config,
``model.safetensors``, tokenizer, image processor), loaded from disk only, never from the
network and never from a pickle.

``transformers`` is an optional dependency (``pip install 'clicktrack[text]'``), imported
only here and only when a detector is used.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from tracker.segmenter import check_image

logger = logging.getLogger(__name__)

#: The detectors of the registry, by architecture: Swin-T and Swin-B backbones (their
#: ``transformers`` configs, as IDEA-Research publishes them).
DETECTOR_ARCHS = {
    "grounding_dino_tiny": {},  # GroundingDinoConfig's defaults are the tiny model
    "grounding_dino_base": {"backbone_config": {
        "model_type": "swin", "embed_dim": 128, "depths": [2, 2, 18, 2],
        "num_heads": [4, 8, 16, 32], "window_size": 12, "image_size": 384,
        "out_indices": [2, 3, 4], "out_features": ["stage2", "stage3", "stage4"]}},
}
#: Detectors in order of preference per device type: on a CPU the tiny one (a frame costs
#: 0.7x the base one's there, docs/performance.md; COCO zero-shot AP 48.4); on a GPU the
#: base one, the better detector (COCO AP 56.7, with COCO among its training data).
DETECTOR_PREFERENCE = {"cuda": ("grounding_dino_base", "grounding_dino_tiny"),
                       "cpu": ("grounding_dino_tiny", "grounding_dino_base")}
MISSING_DETECTOR = ("text prompts need the Grounding DINO detector: python -m tracker "
                    "download grounding_dino_tiny (or grounding_dino_base)")
MISSING_TRANSFORMERS = "text prompts need transformers: pip install 'clicktrack[text]'"
_SPECIAL_TOKENS = ("[CLS]", "[SEP]", "[PAD]")


class DetectorError(RuntimeError):
    """A detector that cannot be loaded or used (its library or files missing or broken)."""


@dataclass(frozen=True)
class TextPromptConfig:
    """How strictly boxes must match a text prompt (Grounding DINO's two thresholds, as
    SAM-Track exposes them).

    Attributes:
        box_threshold: a box is kept when its best-matching prompt token scores at least
            this (0..1).
        text_threshold: prompt tokens scoring at least this name the box (0..1).
    """

    box_threshold: float = 0.25
    text_threshold: float = 0.25

    def __post_init__(self) -> None:
        for name in ("box_threshold", "text_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in 0..1, got {getattr(self, name)}")


@dataclass(frozen=True)
class Detection:
    """One box a text prompt found: (x0, y0, x1, y1) pixels inside the frame, the score
    and the phrase of the prompt it matched."""

    box: tuple[float, float, float, float]
    score: float
    label: str


def normalize_prompt(text: str) -> str:
    """The prompt as Grounding DINO was trained on it: lower case, each phrase ended by a
    period (``"Person . bicycle"`` -> ``"person. bicycle."``).

    Raises:
        ValueError: no phrase in ``text``.
    """
    phrases = [" ".join(part.split()) for part in text.lower().split(".")]
    phrases = [p for p in phrases if p]
    if not phrases:
        raise ValueError("the text prompt names nothing; give phrases such as "
                         "'person . bicycle'")
    return " ".join(f"{p}." for p in phrases)


def _transformers():
    try:
        import transformers
    except ImportError as error:
        raise DetectorError(MISSING_TRANSFORMERS) from error
    return transformers


def architecture_config(arch: str):
    """The ``transformers.GroundingDinoConfig`` of a registry architecture."""
    if arch not in DETECTOR_ARCHS:
        raise ValueError(f"unknown detector architecture {arch!r}; known: "
                         f"{', '.join(DETECTOR_ARCHS)}")
    return _transformers().GroundingDinoConfig(**DETECTOR_ARCHS[arch])


def _load(folder: Path, output_loading_info: bool = False):
    transformers = _transformers()
    from safetensors import SafetensorError

    try:
        loaded = transformers.GroundingDinoForObjectDetection.from_pretrained(
            folder, local_files_only=True, use_safetensors=True,
            output_loading_info=output_loading_info)
        processor = transformers.GroundingDinoProcessor.from_pretrained(
            folder, local_files_only=True)
    except (OSError, ValueError, KeyError, RuntimeError, SafetensorError) as error:
        raise DetectorError(f"{folder}: not a loadable Grounding DINO model "
                            f"({str(error).splitlines()[0]})") from error
    return loaded, processor


def check_detector_folder(folder: str | os.PathLike) -> None:
    """Raise :class:`DetectorError` unless ``folder`` loads as a Grounding DINO model whose
    weights fit its config key by key (no missing, unexpected or mis-shaped weights)."""
    (_, info), _ = _load(Path(folder), output_loading_info=True)
    problems = {what: info.get(what) for what in ("missing_keys", "unexpected_keys",
                                                  "mismatched_keys") if info.get(what)}
    if problems:
        raise DetectorError("; ".join(f"{len(found)} {what.replace('_', ' ')}: "
                                      f"{', '.join(map(str, list(found)[:5]))}"
                                      for what, found in problems.items()))


def load_detector(folder: str | os.PathLike, device: str | torch.device = "cpu"
                  ) -> TextDetector:
    """The Grounding DINO model in ``folder`` (Hugging Face layout), on ``device``."""
    folder = Path(folder)
    model, processor = _load(folder)
    logger.info("loaded the text detector %s", folder)
    return TextDetector(model.eval().requires_grad_(False).to(device), processor,
                        folder.name)


class TextDetector:
    """Boxes of what a text prompt names on a frame. Holds no per-session state: one is
    shared by every session.

    Args:
        model: a ``GroundingDinoForObjectDetection``.
        processor: its ``GroundingDinoProcessor`` (image resizing, tokenizer).
        name: what made the boxes, for logs and records.
    """

    def __init__(self, model: torch.nn.Module, processor, name: str) -> None:
        self.model = model
        self.processor = processor
        self.name = name

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def detect(self, image: np.ndarray, text: str,
               config: TextPromptConfig = TextPromptConfig()) -> list[Detection]:
        """The boxes on ``image`` ((H, W, 3) uint8 RGB) that ``text`` names (phrases such
        as ``"person . bicycle"``), best scored first, each clipped to the frame; boxes
        less than a pixel wide or high are dropped."""
        check_image(image)
        prompt = normalize_prompt(text)
        height, width = image.shape[:2]
        inputs = self.processor(images=image, text=prompt, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            outputs = self.model(**inputs)
        (result,) = self.processor.post_process_grounded_object_detection(
            outputs, inputs["input_ids"], threshold=config.box_threshold,
            text_threshold=config.text_threshold, target_sizes=[(height, width)])
        found = []
        for box, score, label in zip(result["boxes"].tolist(), result["scores"].tolist(),
                                     result["text_labels"]):
            x0, y0 = max(0.0, box[0]), max(0.0, box[1])
            x1, y1 = min(float(width), box[2]), min(float(height), box[3])
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                found.append(Detection((x0, y0, x1, y1), float(score), _clean(label, prompt)))
        found.sort(key=lambda d: -d.score)
        logger.info("%s: %d boxes for %r", self.name, len(found), prompt)
        return found


def _clean(label: str, prompt: str) -> str:
    """A detection's phrase without tokenizer marks; the whole prompt when none is left."""
    words = [w for w in label.replace(".", " ").split() if w not in _SPECIAL_TOKENS]
    return " ".join(words) or prompt.rstrip(".")
