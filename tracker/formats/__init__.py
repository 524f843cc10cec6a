"""The annotation formats ClickTrack writes results in and reads starting annotations from.

Every format is a module with a ``write_<name>(tracks, path)`` taking
:class:`~tracker.formats.tracks.VideoTracks` and a ``read_<name>(path, options)`` giving
:class:`~tracker.formats.tracks.KeyframeAnnotations`; this registry maps the names that
``track --formats`` takes to them, to where each goes in a result folder, and tells a file's
format from its name and content (:func:`read_annotations`). ``overlay`` (the video with the
masks drawn on) needs the frames, so :func:`tracker.exports.export_results` writes it.
See docs/formats.md.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from tracker.formats.coco import load_json, read_coco, read_ytvis, write_coco, write_ytvis
from tracker.formats.cvat import ANNOTATIONS_XML, read_cvat, write_cvat
from tracker.formats.davis import (
    ANNOTATIONS,
    META,
    read_davis,
    read_masks,
    read_ytvos,
    write_davis,
    write_masks,
    write_ytvos,
)
from tracker.formats.labelstudio import read_labelstudio, write_labelstudio
from tracker.formats.mot import read_mot, read_mots, write_mot, write_mots
from tracker.formats.objects import read_objects, write_objects
from tracker.formats.sav import read_sav, write_sav
from tracker.formats.tracks import (
    FormatError,
    FrameAnnotation,
    KeyframeAnnotations,
    ReadOptions,
    VideoTracks,
)

__all__ = ["DEFAULT_FORMATS", "FORMATS", "OVERLAY", "REGISTRY", "Format", "FormatError",
           "FrameAnnotation", "KeyframeAnnotations", "ReadOptions", "VideoTracks",
           "detect_format", "export_formats", "output_path", "parse_formats",
           "read_annotations"]

logger = logging.getLogger(__name__)

#: The overlay video: written from the frames by :func:`tracker.exports.export_results`.
OVERLAY = "overlay"


@dataclass(frozen=True)
class Format:
    """One format: its ``--formats`` name, what it is written as in a result folder (a file
    or folder name), its writer and reader, and whether it holds boxes only."""

    name: str
    output: str
    write: Callable[[VideoTracks, Path], None]
    read: Callable[[Path, ReadOptions], KeyframeAnnotations]
    boxes_only: bool = False


_REGISTRY: dict[str, Format] = {f.name: f for f in (
    Format("masks", "masks", write_masks, read_masks),
    Format("coco", "annotations.json", write_coco, read_coco),
    Format("objects", "objects.json", write_objects, read_objects, boxes_only=True),
    Format("davis", "davis", write_davis, read_davis),
    Format("ytvos", "ytvos", write_ytvos, read_ytvos),
    Format("ytvis", "ytvis.json", write_ytvis, read_ytvis),
    Format("sav", "sav.json", write_sav, read_sav),
    Format("mot", "mot.txt", write_mot, read_mot, boxes_only=True),
    Format("mots", "mots.txt", write_mots, read_mots),
    Format("cvat", "cvat.xml", write_cvat, read_cvat),
    Format("labelstudio", "labelstudio.json", write_labelstudio, read_labelstudio,
           boxes_only=True),
)}
#: Format name -> :class:`Format`, for every format written from tracks.
REGISTRY: Mapping[str, Format] = MappingProxyType(_REGISTRY)
#: Every name ``--formats`` takes.
FORMATS = (OVERLAY, *_REGISTRY)
#: What a result folder holds unless told otherwise: the overlay video, the masks (written
#: while tracking), COCO and objects.json.
DEFAULT_FORMATS = (OVERLAY, "masks", "coco", "objects")


def parse_formats(text: str) -> tuple[str, ...]:
    """Comma-separated format names -> the names, in order, each once.

    Raises:
        ValueError: an unknown name, or none.
    """
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    unknown = [n for n in names if n not in FORMATS]
    if unknown or not names:
        raise ValueError(f"unknown format {', '.join(unknown)}; known: {', '.join(FORMATS)}"
                         if unknown else "no format named")
    return names


def output_path(name: str, out_dir: str | os.PathLike) -> Path:
    """Where format ``name`` is written in the result folder ``out_dir``."""
    if name not in _REGISTRY:
        raise ValueError(f"no format {name!r} to write from tracks; known: "
                         f"{', '.join(_REGISTRY)}")
    return Path(out_dir) / _REGISTRY[name].output


def export_formats(names: Iterable[str], tracks: VideoTracks,
                   out_dir: str | os.PathLike) -> dict[str, Path]:
    """Write ``tracks`` in each format named into ``out_dir`` (each file atomically).

    Returns:
        format name -> the file or folder written.

    Raises:
        ValueError: an unknown name, or ``overlay`` (which needs the frames).
    """
    names = list(dict.fromkeys(names))
    if OVERLAY in names:
        raise ValueError("the overlay needs the frames: tracker.exports.export_results "
                         "writes it")
    paths = {name: output_path(name, out_dir) for name in names}
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        _REGISTRY[name].write(tracks, path)
        logger.debug("%s: wrote %s", tracks.name, path)
    return paths


def _sniff_text(path: Path) -> str:
    """``mot`` or ``mots``, from a text file's first line."""
    try:
        with path.open() as stream:
            line = next((line for line in stream if line.strip()), "")
    except (OSError, UnicodeDecodeError) as error:
        raise FormatError(f"{path.name}: not a readable text file ({error})") from error
    fields = line.replace(",", " ").split()
    if "," not in line and len(fields) == 6 and not _is_number(fields[5]):
        return "mots"
    if len(fields) >= 6 and all(_is_number(f) for f in fields[:6]):
        return "mot"
    raise FormatError(f"{path.name}: neither MOT (frame,id,x,y,w,h,...) nor MOTS "
                      "(frame id class_id img_h img_w rle) text")


def _is_number(text: str) -> bool:
    """Whether ``text`` reads as a number."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def _sniff_json(path: Path) -> str:
    """The JSON format of a file, from its top-level keys."""
    document = load_json(path)
    if isinstance(document, list):
        if any(isinstance(t, dict) and ("data" in t or "annotations" in t) for t in document):
            return "labelstudio"
    elif isinstance(document, dict):
        keys = document.keys()
        if "masklet" in keys:
            return "sav"
        if "videos" in keys:
            return "ytvis" if "annotations" in keys else "ytvos"
        if "images" in keys and "annotations" in keys:
            return "coco"
        if "objects" in keys and "box_format" in keys:
            return "objects"
        if "data" in keys and ("annotations" in keys or "predictions" in keys):
            return "labelstudio"
    raise FormatError(f"{path.name}: JSON of no known format (COCO, YouTube-VIS, SA-V, "
                      "Label Studio, objects.json, YouTube-VOS meta.json)")


def detect_format(path: str | os.PathLike) -> str:
    """The format name of an annotation file or folder, from its name and content.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        FormatError: it is of no known format.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder")
    if path.is_dir():
        if (path / META).is_file() and (path / ANNOTATIONS).is_dir():
            return "ytvos"
        if (path / ANNOTATIONS).is_dir():
            return "davis"
        if (path / ANNOTATIONS_XML).is_file():
            return "cvat"
        if any(p.suffix.lower() == ".png" and p.stem.isdigit() for p in path.iterdir()):
            return "masks"
        raise FormatError(f"{path}: a folder of no known format (PNGs 00000.png ..., "
                          "Annotations/<video>/, CVAT's annotations.xml)")
    suffix = path.suffix.lower()
    if suffix == ".xml":
        return "cvat"
    if suffix == ".txt":
        return _sniff_text(path)
    if suffix == ".json":
        return _sniff_json(path)
    raise FormatError(f"{path.name}: not an annotation file ClickTrack reads (.json, .xml, "
                      ".txt or a folder)")


def read_annotations(path: str | os.PathLike,
                     options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """Read an annotation file or folder of any format in :data:`FORMATS` (told by
    :func:`detect_format`)."""
    name = detect_format(path)
    annotations = _REGISTRY[name].read(Path(path), options)
    logger.debug("%s: %s, %d annotated frames, objects %s", Path(path).name, name,
                 len(annotations.frames), annotations.object_ids())
    return annotations

