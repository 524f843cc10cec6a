"""Semi-supervised video object segmentation on real footage, scored as DAVIS scores it.

For every sequence of a DAVIS / YouTube-VOS style folder (``JPEGImages/<seq>/*.jpg`` and
``Annotations/<seq>/*.png``, palette PNGs of ids or 0/255 masks), the first frame's true
mask is given and the rest of the sequence is predicted three ways:

* ``model``: the batch pipeline end to end (:func:`tracker.batch.track_video`: decoding,
  DeAOT with the given settings, the masks written to disk), timed on the wall clock;
* ``static``: the first mask held still (what doing nothing scores);
* ``flow``: the first mask carried frame to frame by dense optical flow (OpenCV's DIS), a
  training-free tracker that any learned one should beat.

J, F and J&F per sequence and overall come from :mod:`tracker.evaluate` (vos-benchmark; the
first and last frame are not scored).
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from tracker.batch import track_video
from tracker.evaluate import EvaluationError, EvaluationReport, score_video
from tracker.masks import MaskStore, encode_png, read_label_png
from tracker.models import ModelCache
from tracker.tracking_options import TrackingOptions
from tracker.video import IMAGE_EXTENSIONS, read_image

logger = logging.getLogger(__name__)

METHODS = ("model", "static", "flow")


@dataclass(frozen=True)
class VosSequence:
    """One sequence: its frames and their ground-truth masks, in order."""

    name: str
    frames: tuple[Path, ...]
    annotations: tuple[Path, ...]


def find_sequences(root: str | Path, names: list[str] | None = None,
                   max_frames: int | None = None) -> list[VosSequence]:
    """The sequences of a VOS folder that have a mask for every frame (cut to
    ``max_frames``), all or those ``names``."""
    root = Path(root)
    images, masks = root / "JPEGImages", root / "Annotations"
    if not images.is_dir() or not masks.is_dir():
        raise EvaluationError(f"{root}: expected JPEGImages/<sequence>/ and "
                              "Annotations/<sequence>/ folders")
    available = sorted(p.name for p in images.iterdir() if p.is_dir())
    unknown = sorted(set(names or []) - set(available))
    if unknown:
        raise EvaluationError(f"{root}: no sequences {', '.join(unknown)}")
    sequences = []
    for name in names or available:
        frames = sorted(p for p in (images / name).iterdir()
                        if p.suffix.lower() in IMAGE_EXTENSIONS)[:max_frames]
        annotations = tuple(masks / name / f"{p.stem}.png" for p in frames)
        missing = [p.name for p in annotations if not p.exists()]
        if missing or not frames:
            raise EvaluationError(f"{name}: {len(missing)} of {len(frames)} frames have no "
                                  f"mask in {masks / name}")
        sequences.append(VosSequence(name, tuple(frames), annotations))
    return sequences


def read_annotation(path: Path) -> np.ndarray:
    """A ground-truth mask as (H, W) uint8 ids; a 0/255 mask (DAVIS 2016) is object 1."""
    labels = read_label_png(path)
    return np.where(labels == 255, 1, labels).astype(np.uint8) \
        if set(np.unique(labels)) <= {0, 255} else labels


def carry_by_flow(frames: tuple[Path, ...], first: np.ndarray) -> Iterator[np.ndarray]:
    """The first frame's (H, W) labels carried to every later frame by DIS optical flow:
    each frame's labels are the previous frame's, sampled where the flow from this frame
    back to the previous one points (nearest neighbour)."""
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    labels = first
    previous = cv2.cvtColor(read_image(frames[0]), cv2.COLOR_RGB2GRAY)
    height, width = first.shape
    grid_x, grid_y = np.meshgrid(np.arange(width, dtype=np.float32),
                                 np.arange(height, dtype=np.float32))
    for path in frames[1:]:
        current = cv2.cvtColor(read_image(path), cv2.COLOR_RGB2GRAY)
        backward = flow.calc(current, previous, None)
        labels = cv2.remap(labels, grid_x + backward[..., 0], grid_y + backward[..., 1],
                           cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        previous = current
        yield labels


@dataclass
class MethodResult:
    """One method's scores and cost."""

    report: EvaluationReport
    seconds_per_frame: float


@dataclass
class VosBenchmark:
    """Every method's results, and the run's peak resident memory."""

    methods: dict[str, MethodResult]
    frames: int
    peak_rss_mb: float

    def table(self) -> str:
        """Per sequence J&F of each method, then overall J&F, J, F and seconds per frame."""
        names = [v.name for v in self.methods["model"].report.videos]
        lines = [f"{'sequence':<20}" + "".join(f"{m:>10}" for m in self.methods)]
        for i, name in enumerate(names):
            lines.append(f"{name:<20}" + "".join(f"{r.report.videos[i].jf:10.3f}"
                                                 for r in self.methods.values()))
        for label, value in (("J&F", lambda r: r.report.jf), ("J", lambda r: r.report.j),
                             ("F", lambda r: r.report.f),
                             ("s/frame", lambda r: r.seconds_per_frame)):
            lines.append(f"{'overall ' + label:<20}" + "".join(
                f"{value(r):10.3f}" for r in self.methods.values()))
        lines.append(f"{self.frames} frames; peak RSS {self.peak_rss_mb:.0f} MB")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"frames": self.frames, "peak_rss_mb": round(self.peak_rss_mb, 1),
                "methods": {name: {
                    "jf": r.report.jf, "j": r.report.j, "f": r.report.f,
                    "seconds_per_frame": r.seconds_per_frame,
                    "sequences": {v.name: {"jf": v.jf, "j": v.j_mean, "f": v.f_mean}
                                  for v in r.report.videos}}
                    for name, r in self.methods.items()}}

    def write(self, path: Path) -> None:
        """The report as JSON (``.json``) or CSV, one row per method and sequence."""
        from tracker.atomic import write_bytes, write_json

        if path.suffix.lower() == ".json":
            write_json(path, self.to_json())
            return
        rows = ["method,sequence,jf,j,f,seconds_per_frame"]
        for name, result in self.methods.items():
            for video in result.report.videos:
                rows.append(f"{name},{video.name},{video.jf:.4f},{video.j_mean:.4f},"
                            f"{video.f_mean:.4f},{result.seconds_per_frame:.4f}")
            rows.append(f"{name},overall,{result.report.jf:.4f},{result.report.j:.4f},"
                        f"{result.report.f:.4f},{result.seconds_per_frame:.4f}")
        write_bytes(path, ("\n".join(rows) + "\n").encode())


def run_vos_benchmark(root: str | Path, out_dir: str | Path,
                      sequences: list[str] | None = None, max_frames: int | None = None,
                      models: ModelCache | None = None,
                      tracking: TrackingOptions = TrackingOptions()) -> VosBenchmark:
    """Track every sequence with the batch pipeline and the two baselines; score them.

    Args:
        root: the VOS folder.
        out_dir: where the frames' links, first masks and predictions go.
        sequences: names to run (default: all).
        max_frames: cut each sequence to its first frames (default: whole sequences, as
            DAVIS scores them).
        models: a model cache shared across sequences.
        tracking: how the batch pipeline tracks (model, settings), as
            :func:`tracker.batch.track_video` takes it.
    """
    out_dir, models = Path(out_dir), models or ModelCache()
    timing = {method: 0.0 for method in METHODS}
    scores: dict[str, list] = {method: [] for method in METHODS}
    total_frames = 0
    for sequence in find_sequences(root, sequences, max_frames):
        truths = [read_annotation(p) for p in sequence.annotations]
        predicted = _track_sequence(sequence, truths[0], out_dir, models, timing, tracking)
        began = time.perf_counter()
        carried = [truths[0], *carry_by_flow(sequence.frames, truths[0])]
        timing["flow"] += time.perf_counter() - began
        predictions = {"model": predicted, "static": [truths[0]] * len(truths),
                       "flow": carried}
        for method in METHODS:
            scores[method].append(score_video(sequence.name, predictions[method], truths))
        total_frames += len(truths)
        logger.info("%s: J&F model %.3f, static %.3f, flow %.3f", sequence.name,
                    *(scores[m][-1].jf for m in METHODS))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return VosBenchmark({m: MethodResult(EvaluationReport(scores[m]), timing[m] / total_frames)
                         for m in METHODS}, total_frames, peak)


def _track_sequence(sequence: VosSequence, first: np.ndarray, out_dir: Path,
                    models: ModelCache, timing: dict[str, float],
                    tracking: TrackingOptions) -> list[np.ndarray]:
    """The batch pipeline's masks of a sequence (its frames linked into a folder)."""
    frames = out_dir / "frames" / sequence.name
    frames.mkdir(parents=True, exist_ok=True)
    for stale in frames.iterdir():
        stale.unlink()
    for path in sequence.frames:
        (frames / path.name).symlink_to(path.resolve())
    mask = out_dir / "first_masks" / f"{sequence.name}.png"
    mask.parent.mkdir(parents=True, exist_ok=True)
    mask.write_bytes(encode_png(first))
    began = time.perf_counter()
    track_video(frames, out_dir / "model", mask=mask, models=models, skip_finished=False,
                tracking=tracking)
    timing["model"] += time.perf_counter() - began
    store = MaskStore(out_dir / "model" / sequence.name / "masks")
    return [store.read(i) for i in range(len(sequence.frames))]
