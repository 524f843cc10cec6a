"""Inputs larger than the limits are refused before they are decoded, each alone."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import box_mask
from tracker.cli import main as cli_main
from tracker.masks import encode_png, read_label_png
from tracker.video import VideoError, VideoLimits, open_video


def _png_of_zeros(width: int, height: int) -> bytes:
    """A valid 8-bit greyscale PNG of ``width`` x ``height`` zeros, built row by row so
    that making it costs no more memory than one row (a "decompression bomb")."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    packer = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte + pixels
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) \
        + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb_mask(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    path.write_bytes(_png_of_zeros(15000, 15000))
    return path


def test_a_decompression_bomb_mask_fails_alone(bomb_mask, tmp_path, small_clip,
                                               deaott_checkpoint, caplog):
    """Before: PIL's DecompressionBombError aborted the whole command with a traceback."""
    assert bomb_mask.stat().st_size < 1_000_000
    with pytest.raises(ValueError, match="more pixels than can be decoded safely"):
        read_label_png(bomb_mask)
    with pytest.raises(ValueError, match="more pixels than can be decoded safely"):
        read_label_png(bomb_mask, (320, 136))
    second = tmp_path / "second.mp4"
    second.write_bytes(small_clip.read_bytes())
    code = cli_main(["track", str(small_clip), str(second), "--out", str(tmp_path / "out"),
                     "--mask", str(bomb_mask), "--deaot", str(deaott_checkpoint)])
    assert code == 1 and "2 of 2 videos failed" in caplog.text  # each input reported
    assert caplog.text.count("bomb.png: the image declares more pixels") == 2


def test_huge_frames_in_a_tiny_zip_are_refused_before_decoding(tmp_path):
    """Before: a 1.5 KB zip of two 8000x8000 PNGs decoded to 0.6 GB in the studio."""
    archive = tmp_path / "huge.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        for index in range(2):
            zipped.writestr(f"{index:05d}.png", _png_of_zeros(8000, 8000))
    assert archive.stat().st_size < 200_000
    with pytest.raises(VideoError, match="8000x8000 = 64,000,000 pixels, more than the limit"):
        open_video(archive)
    with open_video(archive, limits=VideoLimits(max_frame_pixels=8000 * 8000)) as video:
        assert (video.info.width, video.info.height) == (8000, 8000)


def test_a_huge_zip_member_is_not_read(tmp_path):
    archive = tmp_path / "member.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("00000.jpg", bytes(70 * 2 ** 20))
    with pytest.raises(VideoError, match="70.0 MiB for one image, more than the limit of 64"):
        open_video(archive)


def test_frame_count_and_size_limits_of_a_video(small_clip, tmp_path, caplog):
    with pytest.raises(VideoError, match="12 frames, more than the limit of 10"):
        open_video(small_clip, limits=VideoLimits(max_frames=10))
    with pytest.raises(VideoError, match="320x136 = 43,520 pixels"):
        open_video(small_clip, limits=VideoLimits(max_frame_pixels=320 * 100))
    mask = tmp_path / "m.png"
    mask.write_bytes(encode_png(box_mask((136, 320), {1: (0, 20, 150, 136)})))
    assert cli_main(["track", str(small_clip), "--out", str(tmp_path / "out"), "--mask",
                     str(mask), "--max-frames", "10"]) == 1
    assert "--max-frames raises it" in caplog.text
    with pytest.raises(ValueError, match="max_frames must be a positive integer"):
        VideoLimits(max_frames=0)


def test_a_folder_of_frames_checks_each_image(tmp_path):
    folder = tmp_path / "frames"
    folder.mkdir()
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(folder / "00000.png")
    (folder / "00001.png").write_bytes(_png_of_zeros(5000, 5000))
    with open_video(folder, limits=VideoLimits(max_frame_pixels=4000 * 4000)) as video:
        assert video.read(0).shape == (40, 60, 3)
        with pytest.raises(VideoError, match="5000x5000"):
            video.read(1)
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < VideoLimits().max_frame_bytes
