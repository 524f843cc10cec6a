"""Tracking whole videos without interaction: the batch command's engine.

``track_video`` reads a first-frame mask, a prompts file, an annotation file of
:mod:`tracker.formats` (``--init``: masks and boxes on keyframes) or a text prompt (``--text``:
the objects it names on the first frame, and with ``sam_gap`` new ones as they appear),
tracks in both directions
from the earliest annotated frame and writes every export asked for into
``OUT/<input stem>/``;
``track_video_steps`` does the same as a generator of steps, for tracking several videos
with batched steps (:func:`tracker.stepping.run_together`).

Each input has its own folder, and one run at a time writes it
(:class:`tracker.result_folder.ResultFolder`): the new result is written beside the old one
and replaces it only when complete, so a failed, stopped or killed run loses nothing. The
status file records the result's :class:`~tracker.fingerprint.Fingerprint`; a rerun skips
an input whose result is current and redoes it, saying why, when the input, its mask or
prompts, the model or a setting changed.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tracker.atomic import write_json
from tracker.exports import export_results
from tracker.fingerprint import Fingerprint, file_digest, input_identity, path_digest
from tracker.flow_color_propagator import NAME as FLOW_COLOR
from tracker.formats import DEFAULT_FORMATS, FORMATS, detect_format
from tracker.keyframe_import import annotate_keyframes, read_keyframes
from tracker.masks import MaskStore, read_label_png
from tracker.models import (
    DEFAULT_OFFLINE_SEGMENTER,
    FLOW_COLOR_NOTE,
    OFFLINE_SEGMENTERS,
    ModelCache,
    deaot_weights,
    describe_groups,
    detector_weights,
    sam_weights,
)
from tracker.prompts import ObjectPrompt, read_prompts
from tracker.result_folder import ResultFolder
from tracker.stepping import Steps, run_alone
from tracker.text_detector import TextPromptConfig, normalize_prompt
from tracker.tracker import Tracker
from tracker.tracking_options import TrackingOptions
from tracker.video import FrameSource, VideoError, VideoLimits, open_video

logger = logging.getLogger(__name__)

STATUS_FILE = ".clicktrack.json"


@dataclass
class VideoResult:
    """Outcome of one video. ``redone``: why a finished result was made again."""

    input: Path
    out_dir: Path
    frames: int = 0
    objects: int = 0
    seconds: float = 0.0
    skipped: bool = False
    redone: tuple[str, ...] = ()


def output_dir(path: str | os.PathLike, out_root: str | os.PathLike) -> Path:
    """``OUT/<input stem>/`` for an input video, folder or zip."""
    path = Path(path)
    return Path(out_root) / (path.name if path.is_dir() else path.stem)


def check_distinct_outputs(inputs: Sequence[str | os.PathLike],
                           out_root: str | os.PathLike) -> None:
    """Raise ``ValueError`` naming them if two different inputs would share an output folder
    (``a/clip.mp4`` and ``b/clip.mp4``, ``clip.mp4`` and ``clip.mov``, ``x`` and ``x.zip``)."""
    claimed: dict[Path, Path] = {}
    clashes = []
    for source in map(Path, inputs):
        folder = output_dir(source, out_root)
        first = claimed.setdefault(folder, source)
        if first != source and first.resolve() != source.resolve():
            clashes.append(f"{first} and {source} would both write {folder}")
    if clashes:
        raise ValueError("; ".join(clashes) + ": rename one of each pair or track them with "
                         "separate --out folders")


def read_status(out_dir: Path) -> dict[str, Any] | None:
    """The status record of a result folder, or ``None`` if it has none."""
    try:
        record = json.loads((out_dir / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


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
    """Track one video from a first-frame mask, a prompts file or an annotation file
    (``init=``) and export the results.

    The arguments are those of :func:`track_video_steps`.
    """
    return run_alone(track_video_steps(path, out_dir, mask, prompts, **options))


def track_video_steps(path: str | os.PathLike, out_dir: str | os.PathLike,
                      mask: str | os.PathLike | None = None,
                      prompts: str | os.PathLike | None = None, *,
                      init: str | os.PathLike | None = None,
                      formats: Iterable[str] = DEFAULT_FORMATS,
                      tracking: TrackingOptions = TrackingOptions(), sam: str | None = None,
                      sam_gap: int = 0, min_area: int = 200,
                      limits: VideoLimits = VideoLimits(), models: ModelCache | None = None,
                      skip_finished: bool = True,
                      on_progress: Callable[[int, int], None] | None = None,
                      text: str | None = None, detector: str | None = None,
                      text_config: TextPromptConfig = TextPromptConfig()
                      ) -> Steps[VideoResult]:
    """:func:`track_video` as a generator of DeAOT steps (see :mod:`tracker.stepping`), so
    that several videos can be tracked with their steps batched together.

    Args:
        path: video file, folder of frames or zip of frames.
        out_dir: the output root; results go to ``out_dir/<input stem>/``.
        mask: PNG of object ids for frame 0.
        prompts: prompts JSON (see :mod:`tracker.prompts`).
        init: an annotation file or folder of any format in :data:`tracker.formats.FORMATS`
            (a CVAT or Label Studio export of a few keyframes, say): its masks annotate
            their frames, its boxes prompt the segmenter on theirs; only what was drawn
            counts, not what the tool interpolated. The results are also written in its
            format.
        formats: what to write into the result folder (names from
            :data:`tracker.formats.FORMATS`).
        tracking: how objects are carried, with which model, settings and device
            (:class:`tracker.tracking_options.TrackingOptions`; ``auto`` choices are
            resolved once, for the model named or the best present).
        sam: SAM registry name or checkpoint path, or an offline segmenter's name
            (default: the best SAM present, else geodesic_grabcut), on ``tracking.device``.
        sam_gap: discover new objects every ``sam_gap`` frames (0: off): those ``text``
            names, else everything SAM finds.
        min_area: smallest new object in pixels.
        limits: the largest input accepted (see :class:`tracker.video.VideoLimits`).
        models: a cache to share loaded models across videos.
        skip_finished: return at once if the output holds a current result (same input,
            annotation, models and settings); ``False`` (``--force``) redoes it, and may
            replace the result of another input of the same name.
        on_progress: called with (frames done, frames in total) while tracking.
        text: a text prompt (``"person . bicycle"``): the objects it names on the first
            frame start the run, each a new object segmented from the detector's box.
        detector: the text detector's registry name or model folder (default: the best
            present for the device).
        text_config: the detector's box and text thresholds.
    """
    if sum(a is not None for a in (mask, prompts, init, text)) != 1:
        raise ValueError("give exactly one of a first-frame mask, a prompts file, an "
                         "annotation file or a text prompt to start from")
    path, models = Path(path), models or ModelCache()
    out = output_dir(path, out_dir)
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    if mask is not None and not Path(mask).is_file():
        raise FileNotFoundError(f"the mask {mask} does not exist")
    object_prompts = read_prompts(prompts) if prompts is not None else None
    formats = _formats(formats, detect_format(init) if init is not None else None)
    plan = tracking.resolve()
    deaot, device = tracking.deaot, tracking.device
    needs_segmenter = object_prompts is not None or init is not None or text is not None \
        or sam_gap > 0
    recorded = plan.record()
    settings = {"propagation": recorded.pop("propagation"), "sam_gap": sam_gap,
                "min_area": min_area, **recorded}
    if formats != DEFAULT_FORMATS:
        settings["formats"] = list(formats)
    if text is not None:
        settings.update(_detector_settings(detector, device, text_config, models))
    fingerprint = _fingerprint(path, mask, prompts, deaot, sam if needs_segmenter else None,
                               device, needs_segmenter, settings, models, init, text)
    redone = _redo_reasons(out, path, fingerprint, skip_finished)
    if skip_finished and not redone:
        logger.info("%s: up to date in %s (same input, annotation, models and settings), "
                    "skipped; --force redoes it", path.name, out)
        return VideoResult(path, out, skipped=True)
    began = time.perf_counter()
    with open_video(path, limits=limits) as video:
        labels = _first_frame_labels(mask, video) if mask is not None else None
        keyframes = read_keyframes(init, video) if init is not None else None
        for entry in object_prompts or []:
            if entry.frame >= video.info.num_frames:
                raise ValueError(f"prompt for object {entry.id} is on frame {entry.frame}, but "
                                 f"{path.name} has {video.info.num_frames} frames")
            entry.prompt.validate(video.info.width, video.info.height)
        check_writable(out.parent)
        model = models.deaot(deaot, device) if plan.uses_deaot else None
        if not plan.uses_deaot and tracking.propagation == "auto":
            logger.warning("%s: %s", path.name, FLOW_COLOR_NOTE)
        segmenter = models.segmenter(sam if needs_segmenter else DEFAULT_OFFLINE_SEGMENTER,
                                     device)
        found_by = models.detector(detector, device) if text is not None else None
        if sam_gap and text is None and not segmenter.can_segment_everything:
            raise ValueError(f"--sam-gap needs SAM or --text; {segmenter.name} cannot segment "
                             "everything (download one: python -m tracker download sam_vit_b)")
        views = plan.describe_views()
        if views:
            logger.info("%s: %s", path.name, views)
        with ResultFolder(out) as folder:
            work = folder.begin()
            tracker = Tracker(video, work, model, segmenter, sam_gap=sam_gap,
                              min_area=min_area, plan=plan, detector=found_by, text=text,
                              text_config=text_config)
            _annotate(tracker, labels, object_prompts)
            if text is not None and not tracker.find(0, text):
                raise ValueError(f"the text prompt {text!r} finds no object on frame 0 (box "
                                 f"threshold {text_config.box_threshold}, text threshold "
                                 f"{text_config.text_threshold})")
            if keyframes is not None:
                annotate_keyframes(tracker, keyframes)
            groups = describe_groups(len(tracker.objects), plan.propagator.group_size or
                                     model.config.max_objects) if plan.uses_deaot else None
            if groups:
                logger.info("%s: %s", path.name, groups)
            report = yield from tracker.track_steps(start=min(tracker.annotations),
                                                    direction="both", on_progress=on_progress)
            _check_complete(tracker.masks, video)
            objects = {o.id: {"first_frame": o.first_frame, "source": o.source,
                              "segmenter": o.segmenter} for o in tracker.objects.values()}
            export_results(video, tracker.masks, work, objects, formats=formats,
                           categories=keyframes.categories if keyframes is not None
                           else tracker.categories or None)
            result = VideoResult(path, out, report.frames, len(objects),
                                 time.perf_counter() - began, redone=tuple(redone))
            write_json(work / STATUS_FILE, {
                "input": str(path.resolve()), "complete": True, "frames": result.frames,
                "objects": result.objects, "seconds": round(result.seconds, 2),
                "segmenter": segmenter.name,
                "deaot": model.config.name if plan.uses_deaot else None,
                **settings, "fingerprint": fingerprint.to_json()})
            folder.commit()
    return result


def _fingerprint(path: Path, mask: str | os.PathLike | None,
                 prompts: str | os.PathLike | None, deaot: str | None, sam: str | None,
                 device: str, needs_segmenter: bool, settings: dict[str, Any],
                 models: ModelCache, init: str | os.PathLike | None = None,
                 text: str | None = None) -> Fingerprint:
    """The fingerprint of the result these arguments would produce."""
    annotation = {"mask": file_digest(mask)} if mask is not None \
        else {"prompts": file_digest(prompts)} if prompts is not None \
        else {"init": path_digest(init)} if init is not None \
        else {"text": normalize_prompt(text)}
    segmenter = None
    if needs_segmenter:
        weights = sam_weights(sam, device)
        segmenter = {"name": sam if sam in OFFLINE_SEGMENTERS else DEFAULT_OFFLINE_SEGMENTER,
                     "weights": None} if weights is None else \
            {"name": weights[0].name, "weights": models.weights_digest(weights[0])}
    tracker = models.weights_digest(deaot_weights(deaot)[0]) \
        if settings["propagation"] == "deaot" else FLOW_COLOR
    return Fingerprint(input_identity(path), annotation, tracker, segmenter, settings)


def _detector_settings(detector: str | None, device: str, config: TextPromptConfig,
                       models: ModelCache) -> dict[str, Any]:
    """What a text-prompted result depends on besides the prompt: the detector (its name
    and the SHA-256 of its weights) and its thresholds."""
    folder, entry = detector_weights(detector, device)
    weights = folder / "model.safetensors"
    return {"detector": entry.name if entry is not None else str(folder),
            "detector_weights": models.weights_digest(weights) if weights.is_file() else None,
            "box_threshold": config.box_threshold, "text_threshold": config.text_threshold}


def _redo_reasons(out: Path, path: Path, fingerprint: Fingerprint,
                  skip_finished: bool) -> list[str]:
    """Why the result in ``out`` must be made (again); empty when it is current.

    Raises:
        ValueError: ``out`` holds the finished result of another input, which only
            ``--force`` (``skip_finished=False``) may replace.
    """
    record = read_status(out)
    if record is None or record.get("complete") is not True:
        return ["no finished result"]
    if record.get("input") != str(path.resolve()):
        if skip_finished:
            raise ValueError(f"{out} holds the result of another input, {record.get('input')}; "
                             "rename this one, choose another --out, or --force to replace it")
        return [f"--force replaces the result of {record.get('input')}"]
    reasons = fingerprint.changes_from(record.get("fingerprint"))
    if not skip_finished:
        reasons = ["--force"] + reasons
    if reasons:
        logger.info("%s: redoing the finished result in %s: %s", path.name, out,
                    "; ".join(reasons))
    return reasons


def _first_frame_labels(mask: str | os.PathLike, video: FrameSource) -> np.ndarray:
    """The first-frame mask as (H, W) uint8 ids, checked against the video."""
    labels = read_label_png(mask, (video.info.width, video.info.height))
    if not labels.any():
        raise ValueError(f"{Path(mask).name}: the mask holds no object (all pixels are 0)")
    return labels


def _annotate(tracker: Tracker, labels: np.ndarray | None,
              object_prompts: list[ObjectPrompt] | None) -> None:
    """Give the tracker the first-frame mask or every prompt of the prompts file."""
    if labels is not None:
        tracker.set_labels(0, labels)
    for entry in object_prompts or []:
        tracker.prompt(entry.frame, entry.id, entry.prompt)


def _formats(names: Iterable[str], init_format: str | None) -> tuple[str, ...]:
    """The formats to write, each once: those asked for and the init file's."""
    formats = tuple(dict.fromkeys([*names, *([init_format] if init_format else [])]))
    unknown = [name for name in formats if name not in FORMATS]
    if unknown:
        raise ValueError(f"unknown format {', '.join(unknown)}; known: {', '.join(FORMATS)}")
    return formats


def _check_complete(masks: MaskStore, video: FrameSource) -> None:
    """Raise ``RuntimeError`` unless every frame of ``video`` has its mask in ``masks``."""
    missing = set(range(video.info.num_frames)) - set(masks.indices())
    if missing:
        raise RuntimeError(f"tracking left {len(missing)} of {video.info.num_frames} frames "
                           f"without a mask (first: {min(missing)}); nothing was replaced")
