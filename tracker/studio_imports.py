"""Objects a studio session gains other than by clicks: from another tool's annotation file
(:func:`import_annotations`) and from the text detector's finds (:func:`find_objects`).

Both work on a session's public state: its video's tracker held for the edit
(:meth:`~tracker.studio_session.StudioSession.editing`), its object names and current
object, its models and settings.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tracker.formats import FormatError
from tracker.keyframe_import import annotate_keyframes, read_keyframes
from tracker.studio_records import StudioError
from tracker.text_detector import DetectorError, TextPromptConfig

if TYPE_CHECKING:
    from tracker.studio_session import StudioSession


def import_annotations(session: StudioSession, path: str | Path) -> str:
    """Start ``session`` from another tool's annotations (any format of
    :mod:`tracker.formats`): their masks annotate their frames, their boxes prompt the
    segmenter there; their labels name the objects and their format becomes the session's
    imported one. Returns a status line for the user."""
    with session.editing() as tracker:
        try:
            keyframes = read_keyframes(path, tracker.video)
        except (FormatError, OSError) as error:
            raise StudioError(f"cannot read {Path(path).name}: {error}") from None
        annotate_keyframes(tracker, keyframes)
    session.categories = dict(keyframes.categories)
    session.imported_format = keyframes.format
    ids = keyframes.object_ids()
    session.current_object = ids[-1] if ids else session.current_object
    return (f"started from {keyframes.format} annotations: objects {ids} on "
            f"{len(keyframes.frames)} keyframes; Track to follow them")


def find_objects(session: StudioSession, frame: int, text: str,
                 config: TextPromptConfig) -> str:
    """Add to ``session`` the objects ``text`` names on ``frame``, each a new object named by
    its phrase, with the settings' text detector; the tracker keeps ``text`` for later
    discovery. Returns a status line for the user."""
    with session.editing() as tracker:
        try:
            tracker.detector = session.models.detector(session.settings.detector,
                                                       session.settings.tracking.device)
        except (FileNotFoundError, DetectorError) as error:
            raise StudioError(f"{error}; or download it in the Settings") from None
        tracker.text_config = config
        ids = tracker.find(frame, text)
        tracker.text = text
    session.categories.update({i: tracker.categories[i] for i in ids})
    if not ids:
        return f"nothing new found for {text!r} on frame {frame}"
    session.current_object = ids[-1]
    return f"found objects {ids} for {text!r} on frame {frame}"
