"""Short real videos for the cluster tests and the throughput figures of docs/cluster.md:
the demo clip cut into pieces, at different frame sizes, with one prompts file that fits
them all.

    python tests/cluster_clips.py FOLDER            # the benchmark's 6 clips
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEMO_CLIP = ROOT / "clicktrack_studio" / "example" / "bikes.mp4"
#: Two boxes that lie inside every clip below (the smallest is 256x108).
PROMPTS = {"objects": [{"id": 1, "box": [10, 20, 110, 104]},
                       {"id": 2, "box": [140, 12, 240, 104]}]}
#: The tests' clips: name -> (first frame, frames, size, mirrored).
TEST_CLIPS = {"a": (0, 12, (320, 136), False), "b": (12, 12, (256, 108), False),
              "c": (24, 12, (384, 164), False), "d": (36, 12, (288, 122), False),
              "e": (48, 12, (320, 136), True)}
#: Clips of the demo clip played forward and back: name, first frame, frames, size.
#: The long clip the kill test stops a worker in.
LONG_CLIP = ("long", 30, 60, (256, 108))
#: The clip the Ctrl-C test interrupts: long enough that no busy machine finishes it before
#: the interrupt lands.
ENDLESS_CLIP = ("endless", 0, 1200, (256, 108))
#: The benchmark's clips: 6 x 20 frames at the demo clip's own 640x272.
BENCH_CLIPS = {f"{name}{n}": (start, 20, (640, 272), mirrored)
               for n, start in enumerate((0, 20, 40)) for name, mirrored in
               (("bikes", False), ("mirrored", True))}


def _demo_frames() -> list[np.ndarray]:
    from tracker.video import open_video

    with open_video(DEMO_CLIP) as video:
        return [frame for _, frame in video.frames(0, video.info.num_frames)]


def write_clip(path: Path, frames: list[np.ndarray], size: tuple[int, int],
               mirrored: bool = False) -> Path:
    """``frames`` resized to ``size`` (and mirrored) as an H.264 MP4."""
    from tracker.video_writer import H264Writer

    with H264Writer(path, 25, size) as writer:
        for frame in frames:
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
            writer.write(np.ascontiguousarray(frame[:, ::-1]) if mirrored else frame)
    return path


def make_clips(folder: Path, clips: dict[str, tuple[int, int, tuple[int, int], bool]]
               ) -> list[Path]:
    """The clips named in ``clips`` in ``folder``, and ``prompts.json`` beside them."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = _demo_frames()
    (folder / "prompts.json").write_text(json.dumps(PROMPTS))
    return [write_clip(folder / f"{name}.mp4", frames[start:start + count], size, mirrored)
            for name, (start, count, size, mirrored) in clips.items()]


def make_long_clip(folder: Path, clip: tuple[str, int, int, tuple[int, int]] = LONG_CLIP
                   ) -> Path:
    """``clip`` (:data:`LONG_CLIP` or :data:`ENDLESS_CLIP`): the demo clip forward, then
    back, and again, from its first frame for its number of frames."""
    name, start, count, size = clip
    frames = _demo_frames()
    cycle = frames + frames[-2:0:-1]
    return write_clip(folder / f"{name}.mp4",
                      [cycle[(start + i) % len(cycle)] for i in range(count)], size)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    made = make_clips(Path(sys.argv[1]), BENCH_CLIPS)
    print("\n".join(map(str, made)))
