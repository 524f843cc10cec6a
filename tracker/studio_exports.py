"""The downloads of a studio session: overlay.mp4 (with annotations.json and objects.json)
after each tracking run, and the formats the user picks, a file each (folders zipped)."""

from __future__ import annotations

import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from tracker.atomic import atomic_path
from tracker.exports import export_results, zip_masks
from tracker.formats import OVERLAY, parse_formats
from tracker.studio_records import StudioError
from tracker.tracker import Tracker


def export_overlay(tracker: Tracker, folder: Path) -> dict[str, Path]:
    """Write overlay.mp4, annotations.json and objects.json from ``tracker``'s current
    results into ``folder``."""
    return export_results(tracker.video, tracker.masks, folder, _object_records(tracker))


def export_downloads(tracker: Tracker, folder: Path, formats: Sequence[str],
                     categories: Mapping[int, str], tracked: bool) -> dict[str, Path]:
    """The downloads of the last tracking run in ``formats`` (names of
    :data:`tracker.formats.FORMATS`), written into ``folder``, a file each: the masks as
    ``masks.zip``, the other folder formats (DAVIS, YouTube-VOS) zipped too; overlay.mp4 as
    the run wrote it. ``categories`` name the objects; ``tracked``: whether a run finished.

    Raises:
        StudioError: an unknown format, or nothing tracked yet.
    """
    try:
        formats = parse_formats(",".join(formats))
    except ValueError as error:
        raise StudioError(str(error)) from None
    overlay = folder / "overlay.mp4"
    if not tracked or not overlay.exists():
        raise StudioError("nothing to export yet: track first")
    paths = export_results(tracker.video, tracker.masks, folder, _object_records(tracker),
                           formats=[f for f in formats if f != OVERLAY],
                           categories=categories)
    if OVERLAY in formats:
        paths = {"overlay": overlay, **paths}
    if "masks" in formats:
        paths["masks"] = zip_masks(tracker.masks, folder / "masks.zip")
    for name, path in list(paths.items()):
        if path.is_dir():
            paths[name] = _zip_folder(path, path.with_suffix(".zip"))
    return paths


def _object_records(tracker: Tracker) -> dict[int, dict[str, object]]:
    """Each object's id to where it began and what segmented it, for objects.json."""
    return {o.id: {"first_frame": o.first_frame, "source": o.source,
                   "segmenter": o.segmenter} for o in tracker.objects.values()}


def _zip_folder(folder: Path, path: Path) -> Path:
    """Write ``folder``'s files into a zip at ``path`` (atomically), under its own name."""
    with atomic_path(path) as temporary, zipfile.ZipFile(temporary, "w") as archive:
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                archive.write(file, file.relative_to(folder.parent).as_posix())
    return path
