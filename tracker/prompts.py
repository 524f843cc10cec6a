"""The prompts file of the batch command.

    {"objects": [{"id": 1, "frame": 0, "points": [[x, y], ...], "labels": [1, 0, ...],
                  "box": [x0, y0, x1, y1]}]}

``points``, ``labels`` and ``box`` are each optional (labels default to positive clicks);
``frame`` defaults to 0. Several entries may share an id: they annotate that object on
several frames.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from tracker.segmenter import Prompt


class PromptsFileError(ValueError):
    """A prompts file that does not follow the format."""


@dataclass(frozen=True)
class ObjectPrompt:
    """One entry: object ``id`` prompted on ``frame``."""

    id: int
    frame: int
    prompt: Prompt


def _is_integer(value: object) -> bool:
    """Whether a decoded JSON value is an integer (``true`` and ``false`` are not)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    """Whether a decoded JSON value is a number (``true`` and ``false`` are not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_pairs(value, what: str) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(_is_number(c) for c in p)
            for p in value):
        raise PromptsFileError(f"{what} must be a list of [x, y] pairs")
    return tuple((float(x), float(y)) for x, y in value)


def parse_prompts(document: object, source: str = "prompts") -> list[ObjectPrompt]:
    """Validate a decoded prompts document."""
    if not isinstance(document, dict) or not isinstance(document.get("objects"), list):
        raise PromptsFileError(f'{source}: expected {{"objects": [...]}}')
    if not document["objects"]:
        raise PromptsFileError(f"{source}: the objects list is empty")
    entries = []
    for n, entry in enumerate(document["objects"]):
        where = f"{source}: objects[{n}]"
        if not isinstance(entry, dict):
            raise PromptsFileError(f"{where} is not an object")
        unknown = set(entry) - {"id", "frame", "points", "labels", "box"}
        if unknown:
            raise PromptsFileError(f"{where}: unknown fields {sorted(unknown)}")
        object_id, frame = entry.get("id"), entry.get("frame", 0)
        if not _is_integer(object_id) or not 1 <= object_id <= 255:
            raise PromptsFileError(f"{where}: id must be an integer in 1..255, got "
                                   f"{json.dumps(object_id)}")
        if not _is_integer(frame) or frame < 0:
            raise PromptsFileError(f"{where}: frame must be a non-negative integer")
        points = _number_pairs(entry.get("points", []), f"{where}: points")
        labels = entry.get("labels", [1] * len(points))
        if not isinstance(labels, list) or len(labels) != len(points) \
                or not all(_is_integer(lab) and lab in (0, 1) for lab in labels):
            raise PromptsFileError(f"{where}: labels must list 1 or 0 for each point")
        box = entry.get("box")
        if box is not None and (not isinstance(box, list) or len(box) != 4
                                or not all(_is_number(c) for c in box)):
            raise PromptsFileError(f"{where}: box must be [x0, y0, x1, y1]")
        if not points and box is None:
            raise PromptsFileError(f"{where}: needs points or a box")
        entries.append(ObjectPrompt(object_id, frame, Prompt(
            points, tuple(int(lab) for lab in labels),
            tuple(float(c) for c in box) if box is not None else None)))
    return entries


def read_prompts(path: str | os.PathLike) -> list[ObjectPrompt]:
    """Read and validate a prompts file."""
    path = Path(path)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        raise
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise PromptsFileError(f"{path.name}: not valid JSON ({error})") from error
    return parse_prompts(document, path.name)
