"""``python -m tracker bench-segmenters``: what each segmenter and text detector costs.

Every model is built from its own library with its real architecture and random weights
(the cost does not depend on the weights; no download needed): Segment Anything ViT-B/L/H,
SAM 2.1 Hiera tiny/small/base+/large, Grounding DINO tiny/base, and the two offline
GrabCut segmenters. On one frame of the demo clip scaled to the size asked (854x480 by
default), it times

* the image encoder per frame: the embedding of a frame not seen before (SAM, SAM 2.1);
  for a detector, one whole text prompt on a frame ("person . bicycle . car");
* the decoder per click: one click of a five-click refinement (the SAM-Track protocol's
  positive and negative clicks), the frame's embedding already held; for GrabCut, which
  has no encoder, the whole answer to a click.

Each figure is the best of ``repeats`` tries, the one least disturbed on a shared machine.
"""

from __future__ import annotations

import argparse
import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch

from tracker.segmenter import Prompt, Segmenter

logger = logging.getLogger(__name__)

SAM_MODELS = ("sam_vit_b", "sam_vit_l", "sam_vit_h")
SAM2_MODELS = ("sam2.1_hiera_tiny", "sam2.1_hiera_small", "sam2.1_hiera_base_plus",
               "sam2.1_hiera_large")
DETECTORS = ("grounding_dino_tiny", "grounding_dino_base")
OFFLINE = ("geodesic_grabcut", "grabcut")
MODELS = SAM_MODELS + SAM2_MODELS + DETECTORS + OFFLINE
#: What is timed by default: SAM ViT-B beside every SAM 2.1 model, both detectors and the
#: offline default.
DEFAULT_MODELS = ("sam_vit_b",) + SAM2_MODELS + DETECTORS + ("geodesic_grabcut",)
#: The five clicks of the per-click timing, as fractions of the frame (x, y, positive).
CLICKS = ((0.70, 0.48, 1), (0.69, 0.26, 1), (0.70, 0.37, 0), (0.75, 0.80, 1),
          (0.62, 0.62, 0))
TEXT_PROMPT = "person . bicycle . car"
DEMO_FRAME = Path(__file__).resolve().parents[1] / "clicktrack_studio" / "example" / "bikes.mp4"


@dataclass(frozen=True)
class Timing:
    """One model's cost: seconds per frame of its encoder (``None``: it has none) and per
    click of its decoder (``None``: a detector), and its parameters in millions."""

    model: str
    params_m: float | None
    encoder_s: float | None
    decoder_s: float | None


def demo_frame(width: int, height: int) -> np.ndarray:
    """Frame 0 of the demo clip as (height, width, 3) uint8 RGB."""
    from tracker.video import open_video

    with open_video(DEMO_FRAME) as video:
        frame = video.read(0)
    return cv2.resize(frame, (width, height), interpolation=cv2.INTER_LINEAR)


def _best(run: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` runs, in seconds."""
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    return min(times)


def _click_prompts(image: np.ndarray) -> list[Prompt]:
    """The growing prompts of :data:`CLICKS` on ``image``."""
    height, width = image.shape[:2]
    points = tuple((x * width, y * height) for x, y, _ in CLICKS)
    labels = tuple(positive for _, _, positive in CLICKS)
    return [Prompt(points[:k], labels[:k]) for k in range(1, len(CLICKS) + 1)]


def _time_clicks(segmenter: Segmenter, image: np.ndarray, repeats: int) -> float:
    """Seconds per click of a five-click refinement, best of ``repeats``."""
    def refine() -> None:
        previous = None
        for prompt in _click_prompts(image):
            previous = segmenter.segment(image, prompt, previous)

    return _best(refine, repeats) / len(CLICKS)


def _time_encoder(segmenter, image: np.ndarray, repeats: int) -> float:
    """Seconds to embed a frame the segmenter has not seen (each try shifts it a pixel)."""
    frames = iter([np.roll(image, shift, axis=1) for shift in range(1, repeats + 1)])
    return _best(lambda: segmenter.embed(next(frames)), repeats)


def _segmenter(name: str) -> Segmenter:
    """``name``'s segmenter with its real architecture and random weights."""
    from tracker.models import OFFLINE_SEGMENTERS

    torch.manual_seed(0)
    if name in OFFLINE_SEGMENTERS:
        return OFFLINE_SEGMENTERS[name]()
    if name in SAM2_MODELS:
        from tracker.sam2_segmenter import Sam2Segmenter, build_sam2_model

        return Sam2Segmenter(build_sam2_model(name))
    from segment_anything import sam_model_registry

    from tracker.sam import SamSegmenter

    model = sam_model_registry[name.removeprefix("sam_")](checkpoint=None)
    model.arch = name.removeprefix("sam_")
    return SamSegmenter(model.eval().requires_grad_(False))


def _detector(name: str):
    """The detector ``name`` with its real architecture and random weights, and a tokenizer
    of the prompt's words (the text encoder's cost depends on the tokens, not the
    vocabulary)."""
    import tempfile

    from transformers import (
        BertTokenizer,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
    )

    from tracker.text_detector import TextDetector, architecture_config

    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", *TEXT_PROMPT.replace(".", " ")
             .split()]
    with tempfile.TemporaryDirectory() as folder:
        vocab = Path(folder) / "vocab.txt"
        vocab.write_text("\n".join(words) + "\n")
        tokenizer = BertTokenizer(vocab=str(vocab))
    torch.manual_seed(0)
    model = GroundingDinoForObjectDetection(architecture_config(name)).eval()
    processor = GroundingDinoProcessor(GroundingDinoImageProcessor(), tokenizer)
    return TextDetector(model.requires_grad_(False), processor, name)


def time_model(name: str, image: np.ndarray, repeats: int = 2) -> Timing:
    """:class:`Timing` of the model ``name`` (one of :data:`MODELS`) on ``image``."""
    if name in DETECTORS:
        detector = _detector(name)
        detector.detect(image, TEXT_PROMPT)  # warm-up
        return Timing(name, _params(detector.model),
                      _best(lambda: detector.detect(image, TEXT_PROMPT), repeats), None)
    segmenter = _segmenter(name)
    if name in OFFLINE:
        return Timing(name, None, None, _time_clicks(segmenter, image, repeats))
    segmenter.embed(image[::-1].copy())  # warm-up, on another frame
    encoder = _time_encoder(segmenter, image, repeats)
    return Timing(name, _params(segmenter.model), encoder,
                  _time_clicks(segmenter, image, repeats))


def _params(model: torch.nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def table(timings: list[Timing], size: tuple[int, int], threads: int) -> str:
    """The timings as a Markdown table, each encoder also against SAM ViT-B's."""
    reference = next((t.encoder_s for t in timings if t.model == "sam_vit_b"), None)
    header = ("| model | parameters (M) | encoder per frame (s) | vs SAM ViT-B "
              "| decoder per click (s) |")
    about = (f"{size[0]}x{size[1]}, {threads} thread(s), torch {torch.__version__}, fp32, "
             "random weights, best of the tries")
    lines = [about, "", header, "|---|---|---|---|---|"]
    for t in timings:
        ratio = f"{t.encoder_s / reference:.2f}x" if reference and t.encoder_s else "-"
        lines.append(f"| {t.model} | {_show(t.params_m, '.1f')} | {_show(t.encoder_s, '.2f')} | "
                     f"{ratio} | {_show(t.decoder_s, '.3f')} |")
    return "\n".join(lines)


def _show(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _run(args: argparse.Namespace) -> int:
    image = demo_frame(args.width, args.height)
    timings = []
    for name in args.models:
        try:
            timing = time_model(name, image, args.repeats)
        except ImportError as error:  # sam2 or transformers not installed
            logger.error("%s: %s", name, error)
            continue
        logger.info("%s: %s", name, timing)
        timings.append(timing)
        gc.collect()
    print(table(timings, (args.width, args.height), torch.get_num_threads()))
    return 0 if len(timings) == len(args.models) else 1


def _model_list(text: str) -> list[str]:
    """``--models``: comma-separated names of :data:`MODELS`."""
    names = [name for name in text.split(",") if name]
    unknown = [name for name in names if name not in MODELS]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown model {', '.join(unknown) or text!r}; "
                                         f"known: {', '.join(MODELS)}")
    return names


def add_segmenter_benchmark(commands: argparse._SubParsersAction) -> None:
    """The ``bench-segmenters`` subcommand."""
    from tracker.cli_options import THREADS_HELP, positive

    bench = commands.add_parser("bench-segmenters", help="encoder and per-click cost of every "
                                "segmenter and text detector (real architectures, random "
                                "weights)")
    bench.add_argument("--models", type=_model_list, default=list(DEFAULT_MODELS),
                       metavar="LIST",
                       help=f"comma-separated, of: {', '.join(MODELS)} (default: "
                            f"{','.join(DEFAULT_MODELS)})")
    bench.add_argument("--width", type=positive, default=854)
    bench.add_argument("--height", type=positive, default=480)
    bench.add_argument("--repeats", type=positive, default=2,
                       help="tries of each figure; the best is reported (default %(default)s)")
    bench.add_argument("--threads", type=positive, help=THREADS_HELP)
    bench.set_defaults(run=_run)
