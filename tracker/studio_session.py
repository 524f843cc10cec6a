"""Interactive sessions of the web studio, independent of any UI toolkit.

A :class:`StudioSession` owns one browser session's folder (the uploaded video, results and
exports), its :class:`~tracker.tracker.Tracker` (which holds the prompts too, so undo takes
back a click and its mark together) and the box corner being placed. The UI maps its
widgets onto these methods; models come from a shared :class:`~tracker.models.ModelCache`.
Its exports are written by :mod:`tracker.studio_exports`, its imported annotations and text
finds added by :mod:`tracker.studio_imports`; :class:`Settings`, :class:`Progress` and
:class:`StudioError` (of :mod:`tracker.studio_records`) are importable from here too.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from tracker import studio_exports, studio_imports
from tracker.formats import DEFAULT_FORMATS
from tracker.models import BUNDLED_NOTE, FLOW_COLOR_NOTE, ModelCache, describe_groups, is_bundled
from tracker.overlay import draw_overlay, draw_prompt, object_colour
from tracker.segmenter import Prompt
from tracker.studio_records import Progress, Settings, StudioError
from tracker.text_detector import TextPromptConfig
from tracker.tracker import Tracker
from tracker.tracking_records import TrackingReport
from tracker.video import IMAGE_EXTENSIONS, VideoLimits, open_video

logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv",
                    ".flv", ".ts", ".gif")
ACCEPTED_EXTENSIONS = VIDEO_EXTENSIONS + (".zip",)


class StudioSession:
    """One user's work: a video, its objects, prompts, results and exports.

    Args:
        root: folder under which the session creates its own unique folder.
        models: the process-wide model cache.
        settings: initial settings.
        limits: the largest uploads accepted, in decoded frame size, frame count and stored
            bytes of one image of a zip.
    """

    def __init__(self, root: str | Path, models: ModelCache, settings: Settings | None = None,
                 limits: VideoLimits = VideoLimits()) -> None:
        self.folder = Path(root) / uuid.uuid4().hex
        self.folder.mkdir(parents=True)
        self.models = models
        self.settings = settings or Settings()
        self.limits = limits
        self.tracker: Tracker | None = None
        self.video_name = ""
        self.current_object: int | None = None
        self.box_corner: tuple[float, float] | None = None
        self.last_report: TrackingReport | None = None
        self.model_note = ""
        self.categories: dict[int, str] = {}
        self.imported_format: str | None = None
        self._stop = threading.Event()
        self._closed = threading.Event()
        self._busy = threading.Lock()

    # ------------------------------------------------------------------ video
    def load(self, upload: str | Path, display_name: str | None = None) -> None:
        """Take an uploaded video or zip of frames (copied into the session folder under a
        name of our own; the user's file name is only displayed)."""
        upload = Path(upload)
        suffix = upload.suffix.lower()
        if suffix not in ACCEPTED_EXTENSIONS:
            raise StudioError(f"{suffix or 'files without an extension'} cannot be loaded; "
                              f"upload a video ({', '.join(VIDEO_EXTENSIONS)}) or a zip of "
                              f"frames ({', '.join(IMAGE_EXTENSIONS)})")
        with self._busy:
            self._check_open()
            self._close_video()
            for stale in self.folder.iterdir():
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
            target = self.folder / f"input{suffix}"
            shutil.copyfile(upload, target)
            video = open_video(target, limits=self.limits)
            self.video_name = Path(display_name or upload.name).stem[:80]
            video.name = self.video_name  # exports name the user's video, not our copy
            # DeAOT is loaded at the first tracking run: prompting needs only the segmenter.
            self.tracker = Tracker(video, self.folder / "work", None,
                                   self.models.segmenter(self.settings.sam,
                                                         self.settings.tracking.device),
                                   plan=self.settings.tracking.resolve())
            self.current_object = None
            self.box_corner = None
            self.last_report = None
            self.categories, self.imported_format = {}, None

    def import_annotations(self, path: str | Path) -> str:
        """Start from another tool's annotations (any format of :mod:`tracker.formats`, a CVAT
        or Label Studio export of a few keyframes, say): their masks annotate their frames,
        their boxes prompt the segmenter there. Their labels name the objects in exports, and
        their format is offered first at export. Returns a status line for the user."""
        return studio_imports.import_annotations(self, path)

    def require_video(self) -> Tracker:
        """The loaded video's tracker; :class:`StudioError` without one."""
        if self.tracker is None:
            raise StudioError("load a video first")
        return self.tracker

    @contextmanager
    def editing(self) -> Iterator[Tracker]:
        """The loaded video's tracker, held for one edit (no tracking run meanwhile).

        Raises:
            StudioError: no video loaded, or tracking running.
        """
        tracker = self.require_video()
        self._check_idle()
        with self._busy:
            yield tracker

    @property
    def num_frames(self) -> int:
        return self.tracker.num_frames if self.tracker else 0

    def _prepare_propagation(self, tracker: Tracker) -> str:
        """Give the tracker the plan the settings make now and its DeAOT model; the note for
        the user about what tracks (empty when an official DeAOT does)."""
        options = self.settings.tracking
        tracker.plan = plan = options.resolve()
        if not plan.uses_deaot:
            tracker.model = None
            return FLOW_COLOR_NOTE if options.propagation == "auto" else ""
        tracker.model = self.models.deaot(options.deaot, options.device)
        groups = describe_groups(len(tracker.objects), plan.propagator.group_size or
                                 tracker.model.config.max_objects)
        if groups:
            logger.info("session %s: %s", self.folder.name, groups)
        return "; ".join(note for note in (
            BUNDLED_NOTE if is_bundled(options.deaot) else "", groups) if note)

    def apply_settings(self, settings: Settings) -> None:
        """Switch models or tracking options; takes effect for the next prompt or run."""
        self.settings = settings
        if self.tracker is not None:
            self.tracker.segmenter = self.models.segmenter(settings.sam,
                                                           settings.tracking.device)
            self.tracker.sam_gap = settings.sam_gap
            self.tracker.plan = settings.tracking.resolve()

    # ---------------------------------------------------------------- prompts
    def new_object(self) -> int:
        """Start the next object; following clicks go to it."""
        tracker = self.require_video()
        self.current_object = tracker.new_object()
        self.box_corner = None
        return self.current_object

    def select_object(self, object_id: int) -> None:
        """Send following clicks to an existing object."""
        if object_id not in self.require_video().objects:
            raise StudioError(f"there is no object {object_id}")
        self.current_object = object_id
        self.box_corner = None

    def click(self, frame: int, x: float, y: float, mode: str) -> str:
        """A click on the frame. ``mode``: positive, negative or box (two clicks: corners).

        Returns a status line for the user.
        """
        tracker = self.require_video()
        width, height = tracker.video.info.width, tracker.video.info.height
        if not (0 <= x < width and 0 <= y < height):
            raise StudioError(f"click ({x:g}, {y:g}) lies outside the {width}x{height} frame")
        if mode not in ("positive", "negative", "box"):
            raise StudioError(f"unknown click mode {mode!r}")
        if self.current_object is None:
            self.new_object()
        object_id = self.current_object
        if mode == "box":
            if self.box_corner is None:
                self.box_corner = (x, y)
                return f"box for object {object_id}: click the opposite corner"
            (x0, y0), self.box_corner = self.box_corner, None
            box = (min(x0, x), min(y0, y), max(x0, x) + 1, max(y0, y) + 1)
            prompt = Prompt(box=box)
        else:
            prompt = Prompt(((x, y),), (1 if mode == "positive" else 0,))
        self._check_idle()
        with self._busy:
            outcome = tracker.prompt(frame, object_id, prompt)
        return (f"object {object_id} on frame {frame}: {int(outcome.result.mask.sum())} px "
                f"({outcome.result.segmenter})")

    def find(self, frame: int, text: str, config: TextPromptConfig = TextPromptConfig()
             ) -> str:
        """Add the objects ``text`` names on ``frame`` ("person . bicycle"), each a new
        object to keep, remove or correct; later discovery (``sam_gap``) looks for what it
        names. Returns a status line for the user."""
        return studio_imports.find_objects(self, frame, text, config)

    def segment_everything(self, frame: int) -> list[int]:
        with self.editing() as tracker:
            return tracker.segment_everything(frame)

    def undo(self) -> bool:
        self._check_idle()
        return self.require_video().undo()

    def remove_object(self, object_id: int) -> None:
        self._check_idle()
        tracker = self.require_video()
        if object_id not in tracker.objects:
            raise StudioError(f"there is no object {object_id}")
        tracker.remove_object(object_id)
        if self.current_object == object_id:
            self.current_object = None

    def objects(self) -> list[tuple[int, str, str]]:
        """(id, hex colour, description) of every object."""
        if self.tracker is None:
            return []
        rows = []
        for object_id, info in sorted(self.tracker.objects.items()):
            colour = "#%02x%02x%02x" % object_colour(object_id)
            name = f"{self.categories[object_id]}, " if object_id in self.categories else ""
            rows.append((object_id, colour, f"{name}from frame {info.first_frame} ({info.source}"
                         + (f", {info.segmenter})" if info.segmenter else ")")))
        return rows

    # ---------------------------------------------------------------- display
    def render(self, frame: int) -> np.ndarray:
        """Frame with its current labels and the current object's prompt on it (as the
        tracker holds it, so an undo takes its clicks away too) drawn."""
        tracker = self.require_video()
        frame = int(np.clip(frame, 0, tracker.num_frames - 1))
        image = draw_overlay(tracker.frame(frame), tracker.labels(frame))
        prompt = tracker.prompt_of(frame, self.current_object) \
            if self.current_object is not None else None
        return draw_prompt(image, prompt, self.box_corner)

    # ---------------------------------------------------------------- tracking
    def stop(self) -> None:
        """Ask a running tracking run to stop after the current frame."""
        self._stop.set()

    def _check_idle(self) -> None:
        if self._busy.locked():
            raise StudioError("tracking is running; stop it or wait for it to finish")

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise StudioError("this session has ended; reload the page to start again")

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called: the session does no more work."""
        return self._closed.is_set()

    def track(self, on_progress: Callable[[Progress], None] | None = None) -> TrackingReport:
        """Track from the last edited frame (both directions), then write overlay.mp4;
        stops after the current frame on :meth:`stop` or :meth:`close`.

        Raises:
            StudioError: no video, a run going already, or the session closed.
        """
        tracker = self.require_video()
        if not self._busy.acquire(blocking=False):
            raise StudioError("tracking is already running")
        try:
            self._check_open()
            self._stop.clear()
            self.model_note = self._prepare_propagation(tracker)
            began = time.perf_counter()

            def progress(done: int, total: int) -> None:
                if on_progress is not None:
                    elapsed = time.perf_counter() - began
                    on_progress(Progress(done, total, done / elapsed if elapsed else 0.0))

            def should_stop() -> bool:
                return self._stop.is_set() or self._closed.is_set()

            logger.info("session %s: tracking %d objects over %d frames", self.folder.name,
                        len(tracker.objects), tracker.num_frames)
            report = tracker.track(on_progress=progress, should_stop=should_stop)
            self._check_open()  # closed while tracking: nobody wants the overlay
            self.last_report = report
            self.export_overlay()
            return report
        finally:
            self._busy.release()

    # ----------------------------------------------------------------- exports
    @property
    def exports_folder(self) -> Path:
        return self.folder / "exports"

    def export_overlay(self) -> dict[str, Path]:
        """Write overlay.mp4, annotations.json and objects.json from the current results."""
        return studio_exports.export_overlay(self.require_video(), self.exports_folder)

    def export(self, formats: Sequence[str] = DEFAULT_FORMATS) -> dict[str, Path]:
        """The downloads of the last tracking run in ``formats`` (names of
        :data:`tracker.formats.FORMATS`), a file each: the masks as ``masks.zip``, the other
        folder formats (DAVIS, YouTube-VOS) zipped too; overlay.mp4 as the run wrote it."""
        return studio_exports.export_downloads(self.require_video(), self.exports_folder,
                                               formats, self.categories,
                                               tracked=self.last_report is not None)

    # ------------------------------------------------------------------ end
    def _close_video(self) -> None:
        if self.tracker is not None:
            self.tracker.video.close()
            self.tracker = None

    def close(self) -> None:
        """Stop the running work (after its current frame), refuse any more and delete the
        session's folder. Closing again does nothing."""
        if self._closed.is_set():
            return
        self._closed.set()
        with self._busy:
            self._close_video()
        shutil.rmtree(self.folder, ignore_errors=True)
        logger.info("session %s closed", self.folder.name)
