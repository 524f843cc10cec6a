"""Tracking whole videos without interaction: the batch command's engine.

``track_video`` reads a first-frame mask or a prompts file, tracks in both directions from
the earliest annotated frame and writes every export into ``OUT/<input stem>/``;
``track_video_steps`` does the same as a generator of steps, for tracking several videos
with batched steps (:func:`tracker.stepping.run_together`). A video
whose folder holds a completed run is skipped, so an interrupted batch resumes where it
stopped.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tracker.atomic import write_json
from tracker.exports import export_results
from tracker.masks import read_label_png
from tracker.models import ModelCache, describe_augmentation, use_edges, use_flip, use_scales
from tracker.prompts import read_prompts
from tracker.session import DEFAULT_MAX_LONG_TERM, DEFAULT_MIN_OBJECT_CELLS, Tracker
from tracker.stepping import Steps, run_alone
from tracker.video import open_video

logger = logging.getLogger(__name__)

STATUS_FILE = ".clicktrack.json"


@dataclass
class VideoResult:
    """Outcome of one video."""

    input: Path
    out_dir: Path
    frames: int = 0
    objects: int = 0
    seconds: float = 0.0
    skipped: bool = False


def output_dir(path: str | os.PathLike, out_root: str | os.PathLike) -> Path:
    """``OUT/<input stem>/`` for an input video, folder or zip."""
    path = Path(path)
    return Path(out_root) / (path.name if path.is_dir() else path.stem)


def is_finished(out_dir: Path, source: Path) -> bool:
    """Whether ``out_dir`` holds a completed run of ``source``."""
    status = out_dir / STATUS_FILE
    try:
        record = json.loads(status.read_text())
    except (OSError, ValueError):
        return False
    return record.get("complete") is True and record.get("input") == str(source.resolve())


def check_writable(folder: Path) -> None:
    """Raise ``PermissionError`` naming ``folder`` unless files can be created in it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        raise PermissionError(f"cannot write to {folder}: {error.strerror or error}") from error


def track_video(path: str | os.PathLike, out_dir: str | os.PathLike,
                mask: str | os.PathLike | None = None,
                prompts: str | os.PathLike | None = None, **options) -> VideoResult:
    """Track one video from a first-frame mask or a prompts file and export the results.

    The arguments are those of :func:`track_video_steps`.
    """
    return run_alone(track_video_steps(path, out_dir, mask, prompts, **options))


def track_video_steps(path: str | os.PathLike, out_dir: str | os.PathLike,
                      mask: str | os.PathLike | None = None,
                      prompts: str | os.PathLike | None = None, *, deaot: str | None = None,
                      sam: str | None = None, device: str = "cpu", sam_gap: int = 0,
                      max_long_term: int | None = DEFAULT_MAX_LONG_TERM,
                      long_term_gap: int | None = None, min_area: int = 200,
                      precision: str = "auto", flip: str = "auto", scales: str = "auto",
                      min_object_cells: float = DEFAULT_MIN_OBJECT_CELLS, edges: str = "auto",
                      models: ModelCache | None = None, skip_finished: bool = True,
                      on_progress: Callable[[int, int], None] | None = None
                      ) -> Steps[VideoResult]:
    """:func:`track_video` as a generator of DeAOT steps (see :mod:`tracker.stepping`), so
    that several videos can be tracked with their steps batched together.

    Args:
        path: video file, folder of frames or zip of frames.
        out_dir: the output root; results go to ``out_dir/<input stem>/``.
        mask: PNG of object ids for frame 0.
        prompts: prompts JSON (see :mod:`tracker.prompts`).
        deaot: DeAOT registry name or checkpoint path (default: best present).
        sam: SAM registry name, checkpoint path or ``"grabcut"`` (default: best present).
        device: cpu or cuda.
        sam_gap: discover new objects every ``sam_gap`` frames (0: off).
        max_long_term: bound of DeAOT's long-term memory in frames.
        long_term_gap: frames between long-term memory additions.
        min_area: smallest new object in pixels.
        precision: DeAOT's precision: auto (the device's fast path) or fp32 (official).
        flip: flip test-time augmentation: ``on``, ``off`` or ``auto`` (on for the bundled
            model only; see :func:`tracker.models.use_flip`).
        scales: network input scales to track at and average: ``"auto"`` (1.0 and 1.2 for
            the bundled model only) or factors such as ``"1.0,1.2"``; see
            :func:`tracker.models.use_scales`.
        min_object_cells: objects predicted smaller than this many DeAOT output cells are
            dropped (0: keep every pixel).
        edges: snap the masks to the frame's edges: ``on``, ``off`` or ``auto`` (on for the
            bundled model only; see :func:`tracker.models.use_edges`).
        models: a cache to share loaded models across videos.
        skip_finished: return at once if the output holds a completed run.
        on_progress: called with (frames done, frames in total) while tracking.
    """
    if (mask is None) == (prompts is None):
        raise ValueError("give exactly one of a first-frame mask or a prompts file")
    path = Path(path)
    out = output_dir(path, out_dir)
    if skip_finished and is_finished(out, path):
        logger.info("%s: already finished in %s, skipped", path.name, out)
        return VideoResult(path, out, skipped=True)
    object_prompts = read_prompts(prompts) if prompts is not None else None
    models = models or ModelCache()
    began = time.perf_counter()
    with open_video(path) as video:
        labels = read_label_png(mask, (video.info.width, video.info.height)) \
            if mask is not None else None
        for entry in object_prompts or []:
            if entry.frame >= video.info.num_frames:
                raise ValueError(f"prompt for object {entry.id} is on frame {entry.frame}, but "
                                 f"{path.name} has {video.info.num_frames} frames")
            entry.prompt.validate(video.info.width, video.info.height)
        check_writable(out)
        model = models.deaot(deaot, device)
        flipping, scaling = use_flip(flip, deaot), use_scales(scales, deaot)
        refining = use_edges(edges, deaot)
        if flipping or scaling != (1.0,):
            logger.info("%s: DeAOT tracks with test-time augmentation (%s), %.1fx the compute "
                        "of one pass (--flip off --scales 1.0 for one pass)", path.name,
                        describe_augmentation(flipping, scaling),
                        (1 + flipping) * sum(scale ** 2 for scale in scaling))
        needs_segmenter = object_prompts is not None or sam_gap > 0
        segmenter = models.segmenter(sam, device) if needs_segmenter \
            else models.segmenter("grabcut", device)
        write_json(out / STATUS_FILE, {"input": str(path.resolve()), "complete": False})
        tracker = Tracker(video, out, model, segmenter, sam_gap=sam_gap, min_area=min_area,
                          max_long_term=max_long_term, long_term_gap=long_term_gap,
                          precision=precision, flip=flipping, scales=scaling,
                          min_object_cells=min_object_cells, refine_edges=refining)
        tracker.masks.clear()
        if labels is not None:
            tracker.set_labels(0, labels)
        for entry in object_prompts or []:
            tracker.prompt(entry.frame, entry.id, entry.prompt)
        report = yield from tracker.track_steps(start=min(tracker.annotations),
                                                direction="both", on_progress=on_progress)
        objects = {o.id: {"first_frame": o.first_frame, "source": o.source,
                          "segmenter": o.segmenter} for o in tracker.objects.values()}
        export_results(video, tracker.masks, out, objects)
    result = VideoResult(path, out, report.frames, len(objects), time.perf_counter() - began)
    write_json(out / STATUS_FILE, {"input": str(path.resolve()), "complete": True,
                                   "frames": result.frames, "objects": result.objects,
                                   "seconds": round(result.seconds, 2),
                                   "segmenter": segmenter.name,
                                   "deaot": model.config.name,
                                   "precision": precision, "flip": flipping,
                                   "scales": list(scaling),
                                   "min_object_cells": min_object_cells,
                                   "edge_refinement": refining})
    return result
