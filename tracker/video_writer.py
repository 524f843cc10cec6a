"""H.264 MP4 writing that browsers play: yuv420p, even frame size, moov atom first."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from types import TracebackType

import av
import numpy as np

from tracker.atomic import atomic_path


class H264Writer:
    """Writes RGB frames to an H.264 (High profile, yuv420p) MP4, atomically.

    yuv420p needs even sides: an odd-sized frame is padded by one edge-replicated row or
    column. The file appears at ``path`` only when the writer closes without error.

    Args:
        path: the MP4 to write.
        fps: frame rate.
        size: (width, height) of the frames.
        crf: x264 constant rate factor (lower: better quality, larger file).
    """

    def __init__(self, path: str | os.PathLike, fps: Fraction | float, size: tuple[int, int],
                 crf: int = 20) -> None:
        self.path = Path(path)
        self.size = size
        self._atomic = atomic_path(self.path, suffix=".mp4")
        temporary = self._atomic.__enter__()
        try:
            self.container = av.open(str(temporary), mode="w", format="mp4",
                                     options={"movflags": "+faststart"})
            rate = Fraction(fps).limit_denominator(1001)
            self.stream = self.container.add_stream("libx264", rate=rate)
            self.stream.width = size[0] + size[0] % 2
            self.stream.height = size[1] + size[1] % 2
            self.stream.pix_fmt = "yuv420p"
            self.stream.options = {"crf": str(crf), "preset": "veryfast", "profile": "high"}
        except BaseException as error:
            self._atomic.__exit__(type(error), error, error.__traceback__)
            raise
        self.frames_written = 0

    def write(self, frame: np.ndarray) -> None:
        """Append one (H, W, 3) uint8 RGB frame of the writer's size."""
        if frame.shape[:2] != (self.size[1], self.size[0]):
            raise ValueError(f"frame is {frame.shape[1]}x{frame.shape[0]}, the video "
                             f"{self.size[0]}x{self.size[1]}")
        if frame.shape[0] % 2 or frame.shape[1] % 2:
            frame = np.pad(frame, ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0)),
                           mode="edge")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        for packet in self.stream.encode(video_frame):
            self.container.mux(packet)
        self.frames_written += 1

    def close(self, error: BaseException | None = None) -> None:
        """Finish the file; with ``error``, discard it instead."""
        try:
            if error is None:
                for packet in self.stream.encode():
                    self.container.mux(packet)
        finally:
            self.container.close()
            if error is None:
                self._atomic.__exit__(None, None, None)
            else:
                self._atomic.__exit__(type(error), error, error.__traceback__)

    def __enter__(self) -> "H264Writer":
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(exc)
