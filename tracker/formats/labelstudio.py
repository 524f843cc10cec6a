"""Label Studio video tasks: ``videorectangle`` results (object tracking boxes).

A task ``{"data": {"video": ...}, "annotations": [{"result": [...]}]}`` holds one result per
object: ``value.sequence`` lists its keyframes ``{frame (1-based), enabled, x, y, width,
height (percent of the frame), rotation, time (seconds)}``, ``value.labels`` its label,
``value.framesCount`` and ``value.duration`` the video's. Label Studio draws a box between
a keyframe whose ``enabled`` is true and the next one by linear interpolation (to the end of
the video after the last), and none after a keyframe whose ``enabled`` is false.

Written: one task per file, a keyframe on every frame an object is on (``enabled`` false on
the last frame of each stretch), the result id ``object-<id>``. Read: the keyframes, and the
boxes Label Studio interpolates between them (marked interpolated). Boxes only; a rotated
box reads as the upright box around it.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from tracker.atomic import write_bytes
from tracker.formats.coco import load_json
from tracker.formats.tracks import (
    Box,
    FormatError,
    FrameAnnotation,
    KeyframeAnnotations,
    ReadOptions,
    VideoTracks,
    assign_ids,
    object_boxes,
)

RESULT_TYPE = "videorectangle"
_OUR_ID = re.compile(r"^object-(\d+)$")


def write_labelstudio(tracks: VideoTracks, path: Path) -> None:
    """A Label Studio task list of one video task with one ``videorectangle`` per object."""
    sequences: dict[int, list[dict]] = {}
    previous: set[int] = set()
    for index, labels in tracks.frames():
        boxes = object_boxes(labels)
        for object_id in previous - boxes.keys():
            sequences[object_id][-1]["enabled"] = False
        for object_id, (x0, y0, x1, y1) in boxes.items():
            sequences.setdefault(object_id, []).append({
                "frame": index + 1, "enabled": True, "rotation": 0,
                "x": 100 * x0 / tracks.width, "y": 100 * y0 / tracks.height,
                "width": 100 * (x1 - x0) / tracks.width,
                "height": 100 * (y1 - y0) / tracks.height,
                "time": (index + 1) / tracks.fps})
        previous = set(boxes)
    for sequence in sequences.values():
        sequence[-1]["enabled"] = False
    results = [{"id": f"object-{object_id}", "type": RESULT_TYPE, "from_name": "box",
                "to_name": "video", "original_width": tracks.width,
                "original_height": tracks.height,
                "value": {"framesCount": tracks.num_frames,
                          "duration": tracks.num_frames / tracks.fps, "sequence": sequence,
                          "labels": [tracks.category(object_id)]}}
               for object_id, sequence in sorted(sequences.items())]
    task = {"id": 1, "data": {"video": tracks.name},
            "annotations": [{"id": 1, "result": results}]}
    write_bytes(path, json.dumps([task], indent=1).encode())


def _video_results(task: dict) -> list[dict]:
    """The ``videorectangle`` results of a task's first annotation that has any (else of
    its first such prediction), with labels given as separate results merged in."""
    for kind in ("annotations", "predictions"):
        for entry in task.get(kind) or []:
            if entry.get("was_cancelled"):
                continue
            results = entry.get("result") or []
            boxes = [r for r in results if r.get("type") == RESULT_TYPE]
            if boxes:
                labels = {r.get("id"): r["value"]["labels"] for r in results
                          if r.get("type") == "labels" and r.get("value", {}).get("labels")}
                for result in boxes:
                    if not result["value"].get("labels") and result.get("id") in labels:
                        result["value"]["labels"] = labels[result["id"]]
                return boxes
    return []


def _pixels(key: dict, width: int, height: int) -> Box:
    """A keyframe's box in pixels: the upright box around it when it is rotated (Label
    Studio rotates about the top-left corner, clockwise in degrees)."""
    x, y = key["x"] * width / 100, key["y"] * height / 100
    w, h = key["width"] * width / 100, key["height"] * height / 100
    angle = math.radians(float(key.get("rotation") or 0))
    if not angle:
        return (x, y, x + w, y + h)
    cos, sin = math.cos(angle), math.sin(angle)
    xs = [x + dx * cos - dy * sin for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    ys = [y + dx * sin + dy * cos for dx, dy in ((0, 0), (w, 0), (w, h), (0, h))]
    return (min(xs), min(ys), max(xs), max(ys))


def _track_boxes(value: dict, width: int, height: int) -> dict[int, tuple[Box, bool]]:
    """Frame index -> (box, interpolated) of one result, as Label Studio shows it."""
    keys = sorted(value["sequence"], key=lambda k: k["frame"])
    count = int(value.get("framesCount") or keys[-1]["frame"])
    boxes = {}
    for n, key in enumerate(keys):
        boxes[key["frame"] - 1] = (_pixels(key, width, height), False)
        if not key.get("enabled", True):
            continue
        following = keys[n + 1] if n + 1 < len(keys) else None
        last = following["frame"] if following is not None else count + 1
        for frame in range(key["frame"] + 1, last):
            t = (frame - key["frame"]) / (following["frame"] - key["frame"]) if following else 0
            mixed = {k: key[k] + t * (following[k] - key[k]) if following else key[k]
                     for k in ("x", "y", "width", "height", "rotation")
                     if k in key}
            boxes[frame - 1] = (_pixels(mixed, width, height), True)
    return boxes


def read_labelstudio(path: Path, options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """The video task of a Label Studio export (the one whose video is named, or the first
    with ``videorectangle`` results). Percentages need the frame size: the results'
    ``original_width``/``original_height`` or ``options.size``."""
    document = load_json(path)
    tasks = document if isinstance(document, list) else [document]
    try:
        found = [(t, r) for t in tasks if isinstance(t, dict) and (r := _video_results(t))]
        if not found:
            raise FormatError(f"{path.name}: holds no Label Studio videorectangle result")
        named = [(t, r) for t, r in found
                 if Path(str(t.get("data", {}).get("video", ""))).stem == options.video]
        task, results = (named or found)[0]
        first = results[0]
        size = (first["original_width"], first["original_height"]) \
            if first.get("original_width") and first.get("original_height") else options.size
        if size is None:
            raise FormatError(f"{path.name}: Label Studio boxes are percentages of the frame, "
                              "and the file records no frame size")
        width, height = int(size[0]), int(size[1])
        ids = assign_ids(_result_ids(results), path.name)
        frames: dict[int, dict[int, tuple[Box, bool]]] = {}
        categories = {}
        for raw, result in zip(_result_ids(results), results):
            labels = result["value"].get("labels") or ["object"]
            categories[ids[raw]] = str(labels[0])
            for index, entry in _track_boxes(result["value"], width, height).items():
                frames.setdefault(index, {})[ids[raw]] = entry
        value = first["value"]
    except (KeyError, TypeError, IndexError, ValueError) as error:
        if isinstance(error, FormatError):
            raise
        raise FormatError(f"{path.name}: not a Label Studio video export ({error!r})") from error
    duration, count = float(value.get("duration") or 0), value.get("framesCount")
    annotations = {
        index: FrameAnnotation(boxes={i: box for i, (box, _) in entries.items()},
                               interpolated=frozenset(i for i, (_, t) in entries.items() if t))
        for index, entries in sorted(frames.items())}
    video = Path(str(task.get("data", {}).get("video") or path.stem)).stem
    return KeyframeAnnotations("labelstudio", video, width, height,
                               int(count) if count else None,
                               int(count) / duration if count and duration else None,
                               annotations, categories)


def _result_ids(results: list[dict]) -> list[int | str]:
    """Our ``object-<id>`` result ids as the numbers, any other as the result id itself."""
    ids = []
    for n, result in enumerate(results):
        match = _OUR_ID.match(str(result.get("id", "")))
        ids.append(int(match.group(1)) if match else str(result.get("id", n)))
    return ids
