"""Folders of palette PNGs (pixel value = object id, the DAVIS palette): ClickTrack's own
``masks/``, DAVIS and YouTube-VOS.

* ``masks``: ``masks/00000.png ...``, one per frame.
* ``davis``: ``Annotations/<video>/00000.png ...``, one per frame (DAVIS 2017 semi-supervised
  layout; a DAVIS release's ``Annotations/480p/<video>/`` is read too).
* ``ytvos``: the same PNGs and ``meta.json``:
  ``{"videos": {<video>: {"objects": {"1": {"category": ..., "frames": ["00000", ...]}}}}}``,
  each object's category and the frames it is on.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path

import numpy as np

from tracker.atomic import write_json
from tracker.formats.tracks import (
    FormatError,
    FrameAnnotation,
    KeyframeAnnotations,
    ReadOptions,
    VideoTracks,
)
from tracker.masks import MaskStore, read_label_png

_PNG = re.compile(r"^(\d+)\.png$")
ANNOTATIONS = "Annotations"
META = "meta.json"


def _write_sequence(tracks: VideoTracks, folder: Path) -> dict[int, list[int]]:
    """Write every frame's PNG into ``folder`` (replacing what it held); object id -> the
    frames it is on."""
    store = MaskStore(folder)
    store.clear()
    present: dict[int, list[int]] = defaultdict(list)
    for index, labels in tracks.frames():
        store.write(index, labels)
        for object_id in np.unique(labels):
            if object_id:
                present[int(object_id)].append(index)
    return present


def _pngs(folder: Path) -> dict[int, Path]:
    """Frame index -> PNG path of the label maps in ``folder`` (named by frame number)."""
    found = {}
    for path in folder.iterdir():
        match = _PNG.match(path.name)
        if match and path.is_file():
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def _read_sequence(folder: Path, format: str, name: str,
                   categories: dict[int, str] | None = None) -> KeyframeAnnotations:
    """Every label PNG of one video's folder, as annotations of their frames."""
    pngs = _pngs(folder)
    if not pngs:
        raise FormatError(f"{folder}: holds no label PNGs (00000.png ...)")
    frames, size = {}, None
    for index, path in pngs.items():
        labels = read_label_png(path, size)
        size = (labels.shape[1], labels.shape[0])
        frames[index] = FrameAnnotation(labels)
    return KeyframeAnnotations(format, name, size[0], size[1], max(pngs) + 1, None, frames,
                               categories or {})


def write_masks(tracks: VideoTracks, path: Path) -> None:
    """``path/00000.png ...``: every frame's (H, W) ids as a palette PNG."""
    _write_sequence(tracks, path)


def read_masks(path: Path, options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """A folder of ``00000.png ...`` label maps (a result's ``masks/``)."""
    name = path.parent.name if path.name == "masks" else path.name
    return _read_sequence(path, "masks", name)


def write_davis(tracks: VideoTracks, path: Path) -> None:
    """``path/Annotations/<video>/00000.png ...``."""
    _write_sequence(tracks, path / ANNOTATIONS / tracks.name)


def _sequence_folder(path: Path, options: ReadOptions) -> Path:
    """The one video's folder of PNGs in a dataset root, an ``Annotations`` folder or the
    video's folder itself."""
    if (path / ANNOTATIONS).is_dir():
        path = path / ANNOTATIONS
        if (path / "480p").is_dir():
            path = path / "480p"
    if _pngs(path):
        return path
    videos = sorted(p.name for p in path.iterdir() if p.is_dir() and _pngs(p))
    if options.video in videos:
        return path / options.video
    if len(videos) == 1:
        return path / videos[0]
    if not videos:
        raise FormatError(f"{path}: holds no video folder of label PNGs")
    raise FormatError(f"{path}: holds {len(videos)} videos ({', '.join(videos[:5])}"
                      f"{', ...' if len(videos) > 5 else ''}); name one")


def read_davis(path: Path, options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """One video of a DAVIS-layout folder."""
    folder = _sequence_folder(path, options)
    return _read_sequence(folder, "davis", folder.name)


def write_ytvos(tracks: VideoTracks, path: Path) -> None:
    """``path/Annotations/<video>/00000.png ...`` and ``path/meta.json``."""
    present = _write_sequence(tracks, path / ANNOTATIONS / tracks.name)
    objects = {str(i): {"category": tracks.category(i),
                        "frames": [f"{index:05d}" for index in frames]}
               for i, frames in sorted(present.items())}
    write_json(path / META, {"videos": {tracks.name: {"objects": objects}}})


def read_ytvos(path: Path, options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """One video of a YouTube-VOS-layout folder (or its ``meta.json``), with its objects'
    categories."""
    if path.is_file():
        path = path.parent
    folder = _sequence_folder(path, options)
    categories = {}
    meta_path = path / META
    if meta_path.is_file():
        try:
            videos = json.loads(meta_path.read_text())["videos"]
            objects = videos.get(folder.name, {}).get("objects", {})
            categories = {int(i): str(entry["category"]) for i, entry in objects.items()
                          if entry.get("category") is not None}
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise FormatError(f"{meta_path}: not a YouTube-VOS meta.json ({error})") from error
    return _read_sequence(folder, "ytvos", folder.name, categories)
