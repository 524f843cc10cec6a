"""Options of the ``python -m tracker`` commands: argument types, the DeAOT tracking
options that ``track``, ``bench-vos`` and ``bench-synthetic`` share, the text-prompt
options of ``track``, and the registry models those options name, obtained before a run."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from tracker.video_limits import VideoLimits

if TYPE_CHECKING:
    from tracker.text_detector import TextPromptConfig
    from tracker.tracking_options import TrackingOptions

logger = logging.getLogger(__name__)

FLIP_HELP = ("flip test-time augmentation: also track the mirrored video and average (about "
             "2x DeAOT's compute); auto = on for the bundled model only")
SCALES_HELP = ("multi-scale test-time augmentation: network input scales to track at and "
               "average, e.g. 1.0,1.2 (each scale s costs about s^2 of one pass); auto = 1.0,1.2 "
               "for the bundled model, 1.0 otherwise")


THREADS_HELP = ("CPU threads for PyTorch and OpenCV (default: one per core; on a busy machine "
                "1 can be much faster)")
PROPAGATION_HELP = ("how objects are carried from frame to frame: deaot, flow-color (optical "
                    "flow and colour models, no training, no download) or auto = DeAOT when "
                    "--deaot is given or an official checkpoint is present, flow-color "
                    "otherwise (it beats the bundled DeAOT on real video)")
EDGES_HELP = ("edge refinement: snap the masks written to the frame's edges with a guided "
              "filter (tracking memory unchanged); auto = on for the bundled model only")
OFFLINE_HELP = ("never download: a registry model named here that is not downloaded is an "
                "error (by default it is downloaded first)")
MIN_OBJECT_CELLS_HELP = ("objects DeAOT predicts smaller than this many of its output cells "
                         "(4x4 network-input pixels each) are dropped from that frame and its "
                         "memory; 0 keeps every pixel, as the official code does")


def non_negative(text: str) -> int:
    """An integer option that may be 0 but not negative."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive(text: str) -> int:
    """An integer option of 1 or more."""
    value = non_negative(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def megabytes(text: str) -> float:
    """A size in MiB, more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size in MiB, got {text!r}") from None
    if not value * 2 ** 20 >= 1:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def cells_choice(text: str) -> float:
    """``--min-object-cells``: a number of cells, 0 or more."""
    message = f"expected a number of cells, 0 or more, got {text!r}"
    try:
        cells = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if not cells >= 0:
        raise argparse.ArgumentTypeError(message)
    return cells


def scales_choice(text: str) -> str:
    """``--scales``: ``auto`` or comma-separated factors, checked before any video starts."""
    from tracker.models import use_scales

    try:
        use_scales(text, None)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def add_deaot_arguments(parser: argparse.ArgumentParser, memory: bool = True) -> None:
    """How objects are carried and DeAOT's model and settings: model (and ``--offline``:
    whether a missing one may be downloaded), device, precision, test-time augmentation,
    speck dropping, edge refinement and (with ``memory``) the long-term memory bound."""
    from tracker.models import AUTO_CHOICES, PROPAGATIONS
    from tracker.tracking_options import DEFAULT_MAX_LONG_TERM, DEFAULT_MIN_OBJECT_CELLS

    if memory:
        parser.add_argument("--propagation", choices=PROPAGATIONS, default="auto",
                            help=PROPAGATION_HELP)
    parser.add_argument("--deaot", help="DeAOT model name (downloaded if missing) or "
                        "checkpoint path")
    parser.add_argument("--offline", action="store_true", help=OFFLINE_HELP)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--threads", type=positive, help=THREADS_HELP)
    if memory:
        parser.add_argument("--max-long-term", type=non_negative,
                            default=DEFAULT_MAX_LONG_TERM,
                            help="frames in DeAOT's long-term memory (0: unbounded)")
        parser.add_argument("--precision", default="auto",
                            choices=["auto", "fp32", "bf16-attention", "bf16", "fp16"],
                            help="DeAOT precision: auto = the device's fast path, "
                                 "fp32 = official")
    parser.add_argument("--flip", choices=AUTO_CHOICES, default="auto", help=FLIP_HELP)
    parser.add_argument("--scales", type=scales_choice, default="auto", help=SCALES_HELP)
    parser.add_argument("--min-object-cells", type=cells_choice,
                        default=DEFAULT_MIN_OBJECT_CELLS, help=MIN_OBJECT_CELLS_HELP)
    parser.add_argument("--edges", choices=AUTO_CHOICES, default="auto", help=EDGES_HELP)


def tracking_options(args: argparse.Namespace) -> TrackingOptions:
    """The choices of :func:`add_deaot_arguments` as one
    :class:`tracker.tracking_options.TrackingOptions`; arguments a subcommand does not
    declare keep their defaults."""
    from tracker.tracking_options import TrackingOptions

    declared = {"propagation": "propagation", "deaot": "deaot", "device": "device",
                "precision": "precision", "flip": "flip", "scales": "scales",
                "edges": "edges", "min_object_cells": "min_object_cells"}
    choices = {field: getattr(args, name) for field, name in declared.items()
               if hasattr(args, name)}
    if hasattr(args, "max_long_term"):
        choices["max_long_term"] = args.max_long_term or None
    return TrackingOptions(**choices)


def unit_interval(text: str) -> float:
    """A threshold between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in 0..1, got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in 0..1, got {text}")
    return value


def add_text_arguments(parser: argparse.ArgumentParser) -> None:
    """The text detector that ``--text`` uses and its two thresholds (SAM-Track's)."""
    from tracker.text_detector import TextPromptConfig

    defaults = TextPromptConfig()
    parser.add_argument("--detector", metavar="NAME", help="text detector for --text: "
                        "grounding_dino_tiny or grounding_dino_base (downloaded if missing) "
                        "or a model folder (default: the best present, else tiny)")
    parser.add_argument("--box-threshold", type=unit_interval, default=defaults.box_threshold,
                        help="--text keeps a box whose best prompt token scores at least "
                             "this (default %(default)s)")
    parser.add_argument("--text-threshold", type=unit_interval,
                        default=defaults.text_threshold,
                        help="prompt tokens scoring at least this name a box (default "
                             "%(default)s)")


def text_config(args: argparse.Namespace) -> TextPromptConfig:
    """The thresholds of :func:`add_text_arguments`."""
    from tracker.text_detector import TextPromptConfig

    return TextPromptConfig(args.box_threshold, args.text_threshold)


def add_limit_arguments(parser: argparse.ArgumentParser) -> None:
    """The largest input accepted (:class:`tracker.video.VideoLimits`)."""
    limits = VideoLimits()
    parser.add_argument("--max-frame-pixels", type=positive, default=limits.max_frame_pixels,
                        help="refuse frames of more pixels, width x height (default "
                             "%(default)s)")
    parser.add_argument("--max-frames", type=positive, default=limits.max_frames,
                        help="refuse videos of more frames (default %(default)s)")
    parser.add_argument("--max-frame-mb", type=megabytes,
                        default=limits.max_frame_bytes / 2 ** 20,
                        help="refuse stored images (in folders and zips of frames) of more "
                             "MiB (default %(default)s)")


def video_limits(args: argparse.Namespace) -> VideoLimits:
    """The options of :func:`add_limit_arguments` as a :class:`VideoLimits`."""
    return VideoLimits(args.max_frame_pixels, args.max_frames,
                       max(1, round(args.max_frame_mb * 2 ** 20)))


def obtain_models(args: argparse.Namespace, fall_back: bool) -> bool:
    """Download the registry models that ``--deaot``, ``--sam``, ``--segmenter`` or
    ``--detector`` name (with ``--text``, the detector defaults to the best present, else
    grounding_dino_tiny) and that are missing (none with ``--offline``), each with a
    progress bar on stderr; with no network and ``fall_back``, drop them from ``args`` (the
    defaults stand in, one warning says so; nothing stands in for a detector). ``False``,
    after logging why, when a named model cannot be had."""
    import torch

    from tracker.download import DownloadError
    from tracker.models import default_detector_name
    from tracker.on_demand import obtain
    from tracker.registry import UnknownModelError

    if getattr(args, "text", None) is not None and args.detector is None:
        args.detector = default_detector_name(torch.device(args.device)) or "grounding_dino_tiny"
    try:
        for option, kind in (("deaot", "deaot"), ("sam", "sam"), ("segmenter", "sam"),
                             ("detector", "detector")):
            if getattr(args, option, None) is not None:
                setattr(args, option, obtain(getattr(args, option), kind, offline=args.offline,
                                             fall_back=fall_back, device=args.device))
    except (DownloadError, OSError, UnknownModelError) as error:  # OSError: offline, disk
        logger.error("%s", error)
        return False
    return True
