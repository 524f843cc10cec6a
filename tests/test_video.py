"""Reading videos, folders and zips of frames; writing browser-playable H.264."""

from __future__ import annotations

import zipfile

import av
import cv2
import numpy as np
import pytest

from conftest import DEMO_CLIP, ROOT
from tracker.video import VideoError, open_video
from tracker.video_writer import H264Writer

ROTATED = ROOT / "tests" / "data" / "rotated90.mp4"


@pytest.fixture(scope="module")
def demo_frames():
    with open_video(DEMO_CLIP) as video:
        return [frame for _, frame in video.frames()]


def test_demo_clip(demo_frames):
    with open_video(DEMO_CLIP) as video:
        assert (video.info.num_frames, video.info.fps) == (60, 25)
        assert (video.info.width, video.info.height) == (640, 272)
    assert demo_frames[0].shape == (272, 640, 3) and demo_frames[0].dtype == np.uint8


def test_random_access_is_frame_exact(demo_frames):
    with open_video(DEMO_CLIP) as video:
        for index in (37, 3, 59, 0, 38, 12):
            assert np.array_equal(video.read(index), demo_frames[index])
        with pytest.raises(IndexError, match="outside"):
            video.read(60)


def test_backward_iteration(demo_frames):
    with open_video(DEMO_CLIP) as video:
        seen = list(video.frames_backward(55, 2))
    assert [i for i, _ in seen] == list(range(55, 2, -1))
    assert all(np.array_equal(f, demo_frames[i]) for i, f in seen)


def test_rotation_metadata_is_applied():
    with open_video(ROTATED) as video:
        frame = video.read(0)
        assert video.rotation == 90
    # Stored 64x32 with a white stripe on its left; shown upright it is 32x64 with the
    # stripe at the bottom, as ffmpeg's autorotate shows it.
    assert frame.shape == (64, 32, 3)
    assert frame[-8:].mean() > 200 and frame[:8].mean() < 50


def test_image_folder_in_natural_order(tmp_path, demo_frames):
    for index in (0, 1, 2, 10):
        cv2.imwrite(str(tmp_path / f"frame{index}.png"), demo_frames[index][:, :, ::-1])
    (tmp_path / "notes.txt").write_text("not a frame")
    with open_video(tmp_path, fps=10) as video:
        assert video.info.num_frames == 4 and video.info.fps == 10
        assert np.array_equal(video.read(3), demo_frames[10])


def test_zip_of_frames(tmp_path, demo_frames):
    with zipfile.ZipFile(tmp_path / "frames.zip", "w") as archive:
        for index in range(3):
            ok, data = cv2.imencode(".png", demo_frames[index][:, :, ::-1])
            archive.writestr(f"clip/{index:03d}.png", data.tobytes())
        archive.writestr("../../evil.txt", "names never touch the disk")
    with open_video(tmp_path / "frames.zip") as video:
        assert video.info.num_frames == 3
        assert np.array_equal(video.read(2), demo_frames[2])


@pytest.mark.parametrize("content,message", [
    (b"", "empty"), (b"\x00garbage" * 500, "not a readable video"),
])
def test_unreadable_files(tmp_path, content, message):
    (tmp_path / "bad.mp4").write_bytes(content)
    with pytest.raises(VideoError, match=message):
        open_video(tmp_path / "bad.mp4")


def test_missing_and_mixed_inputs(tmp_path, demo_frames):
    with pytest.raises(VideoError, match="no such file"):
        open_video(tmp_path / "absent.mp4")
    with pytest.raises(VideoError, match="holds no images"):
        open_video(tmp_path)
    cv2.imwrite(str(tmp_path / "a.png"), demo_frames[0])
    cv2.imwrite(str(tmp_path / "b.png"), demo_frames[0][:100])
    with open_video(tmp_path) as video, pytest.raises(VideoError, match="the first frame"):
        video.read(1)


def test_writer_makes_browser_playable_h264(tmp_path, demo_frames):
    path = tmp_path / "out.mp4"
    odd = [f[:271, :639] for f in demo_frames[:10]]
    with H264Writer(path, 12.5, (639, 271)) as writer:
        for frame in odd:
            writer.write(frame)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == 12.5
        frames = list(container.decode(stream))
    assert len(frames) == 10 and (frames[0].width, frames[0].height) == (640, 272)
    data = path.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")  # playable while downloading


def test_writer_leaves_nothing_on_error(tmp_path, demo_frames):
    path = tmp_path / "broken.mp4"
    with pytest.raises(ValueError, match="frame is"):
        with H264Writer(path, 25, (640, 272)) as writer:
            writer.write(demo_frames[0])
            writer.write(demo_frames[0][:10])
    assert list(tmp_path.iterdir()) == []
