"""CVAT for video 1.1 XML: one ``<track>`` per object.

Written as CVAT's own exporter writes it (cvat/apps/dataset_manager/formats/cvat.py): the
``<meta>`` of a task (size, frame range, labels, ``original_size``) and per object a track
with a ``<mask>`` on every frame it is on, a keyframe each (masks are not interpolated), and
an ``outside="1"`` shape on the first frame it is absent after being present. A mask's
``rle`` is CVAT's own run-length code: run lengths over the rows of the box ``left``,
``top``, ``width``, ``height``, alternating background and object, background first.

Read: tracks of ``<mask>``, ``<polygon>`` (filled) and ``<box>`` shapes; ``keyframe="0"``
shapes are those CVAT interpolated. CVAT keeps no identity for masks across frames: its
exports hold each mask drawn as a one-frame track, so each reads as its own object (polygon
and box tracks keep their identity). CVAT's importer in turn takes only the first mask of a
mask track.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from tracker.atomic import write_bytes
from tracker.formats.tracks import (
    FormatError,
    FrameAnnotation,
    KeyframeAnnotations,
    ReadOptions,
    VideoTracks,
    assign_ids,
    category_ids,
    object_boxes,
    paint,
)
from tracker.masks import PALETTE

logger = logging.getLogger(__name__)

#: Where CVAT exports put their annotations inside a zip or folder.
ANNOTATIONS_XML = "annotations.xml"


def encode_cvat_mask(mask: np.ndarray) -> dict[str, str]:
    """The ``rle``, ``left``, ``top``, ``width`` and ``height`` attributes of a non-empty
    (H, W) bool mask."""
    (x0, y0, x1, y1), = object_boxes(mask.astype(np.uint8)).values()
    flat = mask[y0:y1, x0:x1].ravel()
    bounds = np.concatenate([[0], np.flatnonzero(flat[1:] != flat[:-1]) + 1, [flat.size]])
    runs = np.diff(bounds)
    if flat[0]:
        runs = np.concatenate([[0], runs])
    return {"rle": ", ".join(str(int(r)) for r in runs), "left": str(x0), "top": str(y0),
            "width": str(x1 - x0), "height": str(y1 - y0)}


def decode_cvat_mask(attributes: dict[str, str], width: int, height: int) -> np.ndarray:
    """The (H, W) bool mask of a ``<mask>`` element's attributes, on a frame of ``width`` x
    ``height``."""
    try:
        runs = np.array([int(v) for v in attributes["rle"].split(",")], np.int64)
        left, top = int(attributes["left"]), int(attributes["top"])
        box_w, box_h = int(attributes["width"]), int(attributes["height"])
    except (KeyError, ValueError) as error:
        raise FormatError(f"a <mask> without a readable rle, left, top, width and height "
                          f"({error!r})") from error
    if (runs < 0).any() or runs.sum() != box_w * box_h:
        raise FormatError(f"a <mask> whose runs cover {runs.sum()} pixels, its "
                          f"{box_w}x{box_h} box {box_w * box_h}")
    crop = np.repeat(np.arange(runs.size) % 2 == 1, runs).reshape(box_h, box_w)
    mask = np.zeros((height, width), bool)
    x1, y1 = min(left + box_w, width), min(top + box_h, height)
    if left < x1 and top < y1:
        mask[top:y1, left:x1] = crop[:y1 - top, :x1 - left]
    return mask


def _text(parent: ET.Element, tag: str, text: object) -> ET.Element:
    """A child element ``<tag>text</tag>``."""
    element = ET.SubElement(parent, tag)
    element.text = str(text)
    return element


def _meta(parent: ET.Element, tracks: VideoTracks, labels: list[str]) -> None:
    """The ``<meta>`` of a CVAT task holding the whole video."""
    task = ET.SubElement(ET.SubElement(parent, "meta"), "task")
    for tag, value in (("name", tracks.name), ("size", tracks.num_frames),
                       ("mode", "interpolation"), ("overlap", 0), ("start_frame", 0),
                       ("stop_frame", max(tracks.num_frames - 1, 0))):
        _text(task, tag, value)
    element = ET.SubElement(task, "labels")
    for n, name in enumerate(labels, 1):
        label = ET.SubElement(element, "label")
        _text(label, "name", name)
        _text(label, "color", "#{:02x}{:02x}{:02x}".format(*PALETTE[n % 256]))
        _text(label, "type", "any")
        ET.SubElement(label, "attributes")
    size = ET.SubElement(task, "original_size")
    _text(size, "width", tracks.width)
    _text(size, "height", tracks.height)


def write_cvat(tracks: VideoTracks, path: Path) -> None:
    """CVAT for video 1.1: one track of masks per object."""
    shapes: dict[int, list[dict[str, str]]] = defaultdict(list)
    previous: dict[int, dict[str, str]] = {}
    for index, labels in tracks.frames():
        current = {}
        for object_id in (int(i) for i in np.unique(labels) if i):
            current[object_id] = encode_cvat_mask(labels == object_id)
            shapes[object_id].append({"frame": str(index), "keyframe": "1", "outside": "0",
                                      "occluded": "0", **current[object_id], "z_order": "0"})
        for object_id in previous.keys() - current.keys():
            shapes[object_id].append({"frame": str(index), "keyframe": "1", "outside": "1",
                                      "occluded": "0", **previous[object_id], "z_order": "0"})
        previous = current
    root = ET.Element("annotations")
    _text(root, "version", "1.1")
    _meta(root, tracks, list(category_ids(tracks.category(i) for i in sorted(shapes))))
    for object_id, object_shapes in sorted(shapes.items()):
        track = ET.SubElement(root, "track", {"id": str(object_id - 1),
                                              "label": tracks.category(object_id),
                                              "source": "auto"})
        for attributes in object_shapes:
            ET.SubElement(track, "mask", attributes)
    ET.indent(root)
    write_bytes(path, ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n")


def _find_int(element: ET.Element, paths: tuple[str, ...]) -> int | None:
    """The integer text of the first of ``paths`` under ``element`` that has one."""
    for path in paths:
        found = element.find(path)
        if found is not None and (found.text or "").strip():
            return int(found.text)
    return None


def _polygon(points: str, width: int, height: int) -> np.ndarray:
    """The (H, W) bool mask of a filled ``<polygon>`` (``points="x,y;x,y;..."``)."""
    try:
        xy = np.array([[float(v) for v in pair.split(",")] for pair in points.split(";")])
    except ValueError as error:
        raise FormatError(f"a <polygon> whose points are not x,y;x,y;... ({error})") from error
    canvas = np.zeros((height, width), np.uint8)
    cv2.fillPoly(canvas, [np.round(xy).astype(np.int32).reshape(-1, 1, 2)], 1)
    return canvas.astype(bool)


def read_cvat(path: Path, options: ReadOptions = ReadOptions()) -> KeyframeAnnotations:
    """A CVAT for video 1.1 XML file (or a folder holding CVAT's ``annotations.xml``)."""
    if path.is_dir():
        path = path / ANNOTATIONS_XML
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as error:
        raise FormatError(f"{path.name}: not readable XML ({error})") from error
    if root.tag != "annotations":
        raise FormatError(f"{path.name}: not CVAT XML (its root is <{root.tag}>)")
    meta = root.find("meta")
    meta = meta if meta is not None else ET.Element("meta")
    task = next((e for e in (meta.find("task"), meta.find("job")) if e is not None), meta)
    width = _find_int(task, ("original_size/width",))
    height = _find_int(task, ("original_size/height",))
    stop = _find_int(task, ("stop_frame",))
    count = stop + 1 if stop is not None else _find_int(task, ("size",))
    tracks = root.findall("track")
    if not tracks and root.find("image") is not None:
        raise FormatError(f"{path.name}: CVAT for images (per-image shapes, no tracks); "
                          "export the task as CVAT for video 1.1")
    ids = assign_ids((int(t.get("id", n)) + 1 for n, t in enumerate(tracks)), path.name)
    masks: dict[int, list] = defaultdict(list)
    boxes: dict[int, dict] = defaultdict(dict)
    interpolated: dict[int, set[int]] = defaultdict(set)
    categories, skipped = {}, set()
    for n, element in enumerate(tracks):
        object_id = ids[int(element.get("id", n)) + 1]
        categories[object_id] = element.get("label") or "object"
        for shape in element:
            if shape.get("outside") == "1" or shape.tag not in ("mask", "polygon", "box"):
                if shape.get("outside") != "1":
                    skipped.add(shape.tag)
                continue
            frame = int(shape.get("frame", 0))
            if shape.get("keyframe", "1") != "1":
                interpolated[frame].add(object_id)
            if shape.tag == "box":
                boxes[frame][object_id] = tuple(float(shape.get(k, 0)) for k in
                                                ("xtl", "ytl", "xbr", "ybr"))
                continue
            if width is None or height is None:
                raise FormatError(f"{path.name}: masks and polygons need the frame size "
                                  "(<original_size> in <meta>)")
            mask = decode_cvat_mask(shape.attrib, width, height) if shape.tag == "mask" \
                else _polygon(shape.get("points", ""), width, height)
            masks[frame].append((int(shape.get("z_order", 0)), n, object_id, mask))
    if skipped:
        logger.warning("%s: %s shapes skipped (ClickTrack reads masks, polygons and boxes)",
                       path.name, ", ".join(sorted(skipped)))
    frames = {}
    for frame in sorted(masks.keys() | boxes.keys()):
        drawn = [(i, m) for _, _, i, m in sorted(masks[frame], key=lambda s: s[:2])]
        frames[frame] = FrameAnnotation(paint(drawn, height, width) if drawn else None,
                                        boxes[frame], frozenset(interpolated[frame]))
    name = (task.findtext("name") or path.stem).strip()
    return KeyframeAnnotations("cvat", name, width, height, count, None, frames, categories)
