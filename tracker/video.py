"""Reading videos as streams of RGB frames: video files (PyAV), image folders, zips.

Every source gives (H, W, 3) uint8 RGB frames by index, upright (rotation metadata applied),
and iterates forward or backward without holding the video in memory.
"""

from __future__ import annotations

import logging
import os
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from tracker.video_limits import VideoError, VideoLimits

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
DEFAULT_FPS = Fraction(25)
#: Frames decoded per chunk when iterating a video file backwards.
REVERSE_CHUNK = 48


@dataclass(frozen=True)
class VideoInfo:
    """Frame count, rate and upright size of a source."""

    num_frames: int
    fps: Fraction
    width: int
    height: int


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


class FrameSource:
    """Random and sequential access to the frames of a video."""

    info: VideoInfo
    name: str

    def read(self, index: int) -> np.ndarray:
        """Frame ``index`` as (H, W, 3) uint8 RGB."""
        raise NotImplementedError

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(index, frame) for start <= index < stop, in order."""
        for index in range(start, self.info.num_frames if stop is None else stop):
            yield index, self.read(index)

    def frames_backward(self, start: int, stop: int = -1) -> Iterator[tuple[int, np.ndarray]]:
        """(index, frame) for start >= index > stop, in decreasing order."""
        for index in range(start, stop, -1):
            yield index, self.read(index)

    def close(self) -> None:
        """Release the source."""

    def check_index(self, index: int) -> None:
        if not 0 <= index < self.info.num_frames:
            raise IndexError(f"frame {index} is outside {self.name} "
                             f"(frames 0..{self.info.num_frames - 1})")

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _decode_image(data: bytes, name: str, limits: VideoLimits) -> np.ndarray:
    """Encoded image bytes -> (H, W, 3) uint8 RGB, its size checked before decoding."""
    limits.check_frame_bytes(name, len(data))
    limits.check_image_header(data, name)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoError(f"{name}: not a readable image")
    limits.check_frame_size(name, image.shape[1], image.shape[0])
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


class _ImageSequence(FrameSource):
    """Frames stored as individual image files."""

    def __init__(self, name: str, members: list[str], fps: Fraction | None,
                 limits: VideoLimits) -> None:
        if not members:
            raise VideoError(f"{name}: holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        limits.check_frame_count(name, len(members))
        self.name = name
        self.limits = limits
        self.members = sorted(members, key=_natural_key)
        first = self.read_member(self.members[0])
        self.info = VideoInfo(len(self.members), fps or DEFAULT_FPS, first.shape[1],
                              first.shape[0])

    def read_member(self, member: str) -> np.ndarray:
        raise NotImplementedError

    def read(self, index: int) -> np.ndarray:
        self.check_index(index)
        frame = self.read_member(self.members[index])
        if frame.shape[:2] != (self.info.height, self.info.width):
            raise VideoError(f"{self.name}: {self.members[index]} is "
                             f"{frame.shape[1]}x{frame.shape[0]}, the first frame "
                             f"{self.info.width}x{self.info.height}")
        return frame


class ImageFolderSource(_ImageSequence):
    """A folder of image files, ordered by natural sort of their names."""

    def __init__(self, folder: Path, fps: Fraction | None = None,
                 limits: VideoLimits = VideoLimits()) -> None:
        self.folder = folder
        members = [p.name for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
        super().__init__(folder.name, members, fps, limits)

    def read_member(self, member: str) -> np.ndarray:
        path = self.folder / member
        self.limits.check_frame_bytes(member, path.stat().st_size)
        return _decode_image(path.read_bytes(), member, self.limits)


class ZipSource(_ImageSequence):
    """A zip archive of image files. Members are read in memory, never extracted."""

    def __init__(self, path: Path, fps: Fraction | None = None,
                 limits: VideoLimits = VideoLimits()) -> None:
        try:
            self.archive = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError) as error:
            raise VideoError(f"{path.name}: not a readable zip archive ({error})") from error
        members = [m.filename for m in self.archive.infolist()
                   if not m.is_dir() and Path(m.filename).suffix.lower() in IMAGE_EXTENSIONS
                   and not Path(m.filename).name.startswith(".")]
        super().__init__(path.stem, members, fps, limits)

    def read_member(self, member: str) -> np.ndarray:
        self.limits.check_frame_bytes(member, self.archive.getinfo(member).file_size)
        try:
            with self.archive.open(member) as stream:  # never more than the limit, whatever
                data = stream.read(self.limits.max_frame_bytes + 1)  # the header claims
            return _decode_image(data, member, self.limits)
        except (zipfile.BadZipFile, OSError, EOFError) as error:
            raise VideoError(f"{self.name}: cannot read {member} ({error})") from error

    def close(self) -> None:
        self.archive.close()


class VideoFileSource(FrameSource):
    """Any container and codec FFmpeg reads, through PyAV.

    On opening, the packets are indexed (demuxed, not decoded) to learn the presentation
    timestamps of all frames, which makes frame counts exact and seeking frame-accurate also
    for variable frame rates.
    """

    def __init__(self, path: Path, limits: VideoLimits = VideoLimits()) -> None:
        self.path = path
        self.name = path.stem
        self.limits = limits
        try:
            self.container = av.open(str(path))
        except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or error
            raise VideoError(f"{path.name}: not a readable video ({reason})") from error
        try:
            self._open_stream()
        except BaseException:
            self.container.close()
            raise

    def _open_stream(self) -> None:
        if not self.container.streams.video:
            raise VideoError(f"{self.path.name}: has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        context = self.stream.codec_context
        if context.width and context.height:
            self.limits.check_frame_size(self.path.name, context.width, context.height)
        try:
            pts = sorted(p.pts for p in self.container.demux(self.stream)
                         if p.pts is not None and p.size > 0)
        except av.error.FFmpegError as error:
            raise VideoError(f"{self.path.name}: corrupt video ({error})") from error
        if not pts:
            raise VideoError(f"{self.path.name}: the video has no frames")
        self.limits.check_frame_count(self.path.name, len(pts))
        self._pts = pts
        self._position: Iterator | None = None
        first = self._decode_from(0)
        frame = next(first, None)
        if frame is None:
            raise VideoError(f"{self.path.name}: no frame could be decoded")
        self.limits.check_frame_size(self.path.name, frame.width, frame.height)
        self.rotation = int(getattr(frame, "rotation", 0) or 0) % 360
        image = self._to_rgb(frame)
        fps = self.stream.average_rate or self.stream.guessed_rate
        if not fps:
            logger.warning("%s: unknown frame rate, assuming %s fps", self.path.name, DEFAULT_FPS)
        self.info = VideoInfo(len(pts), Fraction(fps or DEFAULT_FPS), image.shape[1],
                              image.shape[0])
        self._next_index = 1
        self._position = first

    def _to_rgb(self, frame: av.VideoFrame) -> np.ndarray:
        image = frame.to_ndarray(format="rgb24")
        if self.rotation:
            image = np.ascontiguousarray(np.rot90(image, k=self.rotation // 90))
        return image

    def _decode_from(self, index: int) -> Iterator[av.VideoFrame]:
        """Decoded frames starting at ``index`` (seeking to the keyframe before it)."""
        target = self._pts[index]
        try:
            self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
            for frame in self.container.decode(self.stream):
                if frame.pts is not None and frame.pts < target:
                    continue
                yield frame
        except av.error.FFmpegError as error:
            raise VideoError(f"{self.path.name}: decoding failed near frame {index} "
                             f"({error})") from error

    def read(self, index: int) -> np.ndarray:
        self.check_index(index)
        if self._position is None or index != self._next_index:
            self._position = self._decode_from(index)
        frame = next(self._position, None)
        if frame is None:
            self._position = None
            raise VideoError(f"{self.path.name}: frame {index} could not be decoded")
        self._next_index = index + 1
        return self._to_rgb(frame)

    def frames_backward(self, start: int, stop: int = -1) -> Iterator[tuple[int, np.ndarray]]:
        end = start
        while end > stop:
            first = max(stop + 1, end - REVERSE_CHUNK + 1)
            chunk = [self.read(i) for i in range(first, end + 1)]
            for offset in range(len(chunk) - 1, -1, -1):
                yield first + offset, chunk[offset]
            end = first - 1

    def close(self) -> None:
        self.container.close()


def open_video(path: str | os.PathLike, fps: float | Fraction | None = None,
               limits: VideoLimits = VideoLimits()) -> FrameSource:
    """Open a video file, a folder of frames or a zip of frames.

    Args:
        path: the input.
        fps: frame rate of image sequences (default 25); ignored for video files.
        limits: the largest frames, frame count and stored image size accepted.

    Raises:
        VideoError: with a message naming the file and what is wrong with it.
    """
    path = Path(path)
    rate = Fraction(fps).limit_denominator(1001) if fps else None
    if not path.exists():
        raise VideoError(f"{path}: no such file or folder")
    if path.is_dir():
        return ImageFolderSource(path, rate, limits)
    if path.suffix.lower() == ".zip":
        return ZipSource(path, rate, limits)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        raise VideoError(f"{path.name}: a single image, not a video (give its folder instead)")
    if path.stat().st_size == 0:
        raise VideoError(f"{path.name}: the file is empty")
    return VideoFileSource(path, limits)


def read_image(data: bytes | str | os.PathLike, name: str = "image",
               limits: VideoLimits = VideoLimits()) -> np.ndarray:
    """An image file (path or bytes) as (H, W, 3) uint8 RGB."""
    if not isinstance(data, bytes):
        name = Path(data).name
        data = Path(data).read_bytes()
    return _decode_image(data, name, limits)


__all__ = ["FrameSource", "VideoError", "VideoInfo", "VideoLimits", "open_video",
           "read_image"]
