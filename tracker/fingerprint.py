"""What produced a result, recorded beside it so that a rerun can tell if it is still current.

A fingerprint names the input (its resolved path, with size and modification time, the
way ``make`` and ``rsync`` tell a file changed; for a folder of frames, those of every
image), the SHA-256 of the first-frame mask or of the prompts file, the SHA-256 of the
model weights and the tracking settings as resolved. The batch command redoes a finished
input when any of them differs, and says which.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.video import IMAGE_EXTENSIONS

_CHUNK = 1 << 20
_ANNOTATION_KINDS = {"mask": "first-frame mask", "prompts": "prompts file",
                     "init": "init file", "text": "text prompt"}


def file_digest(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def path_digest(path: str | os.PathLike) -> str:
    """:func:`file_digest` of a file; of a folder, the SHA-256 of every file's relative path
    and digest."""
    path = Path(path)
    if not path.is_dir():
        return file_digest(path)
    entries = sorted((str(p.relative_to(path)), file_digest(p)) for p in path.rglob("*")
                     if p.is_file())
    return hashlib.sha256(json.dumps(entries).encode()).hexdigest()


def input_identity(path: str | os.PathLike) -> dict[str, Any]:
    """The resolved path, size and modification time of an input; for a folder of frames,
    a digest of every image's name, size and modification time."""
    path = Path(path).resolve()
    if not path.is_dir():
        stat = path.stat()
        return {"path": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    entries = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in path.iterdir()
                     if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    listing = hashlib.sha256(json.dumps(entries).encode()).hexdigest()
    return {"path": str(path), "images": len(entries), "listing": listing}


@dataclass(frozen=True)
class Fingerprint:
    """Everything a tracking result depends on.

    Attributes:
        input: :func:`input_identity` of the video.
        annotation: ``{"mask": sha256}``, ``{"prompts": sha256}``, ``{"init": sha256}``
            (of an annotation file or folder, :func:`path_digest`) or ``{"text": prompt}``.
        deaot: SHA-256 of the DeAOT weights.
        segmenter: the segmenter's name and the SHA-256 of its weights (``None`` for
            GrabCut), or ``None`` when no segmenter takes part.
        settings: the tracking settings as resolved (no ``auto`` left).
    """

    input: dict[str, Any]
    annotation: dict[str, str]
    deaot: str
    segmenter: dict[str, str | None] | None
    settings: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"input": self.input, "annotation": self.annotation, "deaot": self.deaot,
                "segmenter": self.segmenter, "settings": self.settings}

    def changes_from(self, recorded: dict[str, Any] | None) -> list[str]:
        """Why a result with the ``recorded`` fingerprint is not this one's (empty: it is)."""
        if not isinstance(recorded, dict):
            return ["the result records no fingerprint (made by an earlier ClickTrack)"]
        reasons = []
        if recorded.get("input") != self.input:
            reasons.append("the input changed")
        if recorded.get("annotation") != self.annotation:
            kind = next(iter(self.annotation))
            reasons.append(f"the {_ANNOTATION_KINDS.get(kind, kind)} changed")
        if recorded.get("deaot") != self.deaot:
            reasons.append("the DeAOT model changed")
        if recorded.get("segmenter") != self.segmenter:
            reasons.append("the segmenter changed")
        old_settings = recorded.get("settings") if isinstance(recorded.get("settings"),
                                                              dict) else {}
        for key, value in self.settings.items():
            if old_settings.get(key, "unrecorded") != value:
                reasons.append(f"{key} {_show(old_settings.get(key, 'unrecorded'))} -> "
                               f"{_show(value)}")
        return reasons


def _show(value: Any) -> str:
    """A setting's value as the log shows it."""
    if isinstance(value, list):
        return ",".join(map(str, value))
    return "none" if value is None else str(value)
