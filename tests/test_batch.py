"""The batch command: a real run, resuming, and bad inputs that leave results intact."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from conftest import DEMO_CLIP, DEMO_PROMPTS, ROOT, box_mask
from helpers import save_checkpoint, synthetic_model
from tracker.batch import STATUS_FILE, track_video
from tracker.cli import main as cli_main
from tracker.masks import encode_png, read_label_png
from tracker.tracking_options import TrackingOptions
from tracker.video import open_video
from tracker.video_writer import H264Writer


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def first_mask(tmp_path_factory, small_clip) -> Path:
    path = tmp_path_factory.mktemp("masks") / "first.png"
    path.write_bytes(encode_png(box_mask((136, 320), {1: (0, 20, 150, 136),
                                                      2: (185, 25, 255, 136)})))
    return path


@pytest.fixture(scope="module")
def finished(tmp_path_factory, small_clip, first_mask, deaott_checkpoint):
    """An output root holding one finished run, and its files' digests."""
    out = tmp_path_factory.mktemp("out")
    result = track_video(small_clip, out, mask=first_mask,
                         tracking=TrackingOptions(deaot=str(deaott_checkpoint)))
    assert result.frames == 12 and result.objects == 2
    return out, _digest(out / "small")


def test_finished_run_has_every_export(finished):
    out, files = finished
    assert {"overlay.mp4", "annotations.json", "objects.json", STATUS_FILE} <= set(files)
    assert sum(name.startswith("masks/") for name in files) == 12
    status = json.loads((out / "small" / STATUS_FILE).read_text())
    assert status["complete"] and status["deaot"] == "deaott"
    assert not status["flip"] and status["scales"] == [1.0]  # auto: one pass for this model
    assert not status["edge_refinement"]  # auto: off for official checkpoints


def test_edge_refinement_on_request(tmp_path, finished, small_clip, first_mask,
                                    deaott_checkpoint):
    out, _ = finished
    track_video(small_clip, tmp_path, mask=first_mask,
                tracking=TrackingOptions(deaot=str(deaott_checkpoint), edges="on"))
    assert json.loads((tmp_path / "small" / STATUS_FILE).read_text())["edge_refinement"]
    plain = [read_label_png(out / "small" / "masks" / f"{t:05d}.png") for t in range(1, 12)]
    refined = [read_label_png(tmp_path / "small" / "masks" / f"{t:05d}.png")
               for t in range(1, 12)]
    changed = [(a != b).mean() for a, b in zip(plain, refined)]
    assert 0 < max(changed) < 0.1  # outlines move; the objects stay where they were


def test_cli_on_the_demo_clip_and_resume(tmp_path, deaott_checkpoint):
    command = [sys.executable, "-m", "tracker", "track", str(DEMO_CLIP), "--out",
               str(tmp_path), "--prompts", str(DEMO_PROMPTS), "--deaot", str(deaott_checkpoint),
               "--sam", "grabcut"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "60/60" in run.stderr and "1/1" in run.stderr  # per-video and overall bars
    out = tmp_path / "bikes"
    with av.open(str(out / "overlay.mp4")) as container:
        assert container.streams.video[0].frames == 60
    ids = {int(i) for f in range(60) for i in np.unique(read_label_png(out / f"masks/{f:05d}.png"))}
    assert ids <= {0, 1, 2, 3}
    assert 3 not in np.unique(read_label_png(out / "masks/00029.png"))  # added on frame 30
    assert 3 in np.unique(read_label_png(out / "masks/00030.png"))
    objects = {o["id"]: o for o in json.loads((out / "objects.json").read_text())["objects"]}
    assert objects[3]["first_frame"] == 30 and objects[1]["segmenter"] == "grabcut"
    before = _digest(out)
    again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert again.returncode == 0 and "skipped" in again.stderr
    assert _digest(out) == before


def test_one_frame_video(tmp_path, small_clip, first_mask, deaott_checkpoint):
    path = tmp_path / "single.mp4"
    with open_video(small_clip) as video, H264Writer(path, 25, (320, 136)) as writer:
        writer.write(video.read(0))
    result = track_video(path, tmp_path / "out", mask=first_mask,
                         tracking=TrackingOptions(deaot=str(deaott_checkpoint)))
    assert result.frames == 1
    stored = read_label_png(tmp_path / "out" / "single" / "masks" / "00000.png")
    assert np.array_equal(stored, read_label_png(first_mask))


def _bad_inputs(tmp: Path, clip: Path, mask: Path, checkpoint: Path) -> dict:
    """name -> (track_video arguments, expected error text)."""
    (tmp / "corrupt.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(5000))
    (tmp / "empty.mp4").write_bytes(b"")
    Image.new("L", (100, 50)).save(tmp / "small_mask.png")
    (tmp / "notpng.png").write_text("not an image")
    (tmp / "bad.json").write_text('{"objects": [{"id": 1, "points": [[10, 10]]')
    (tmp / "outside.json").write_text(json.dumps({"objects": [{"id": 1, "points": [[400, 10]]}]}))
    (tmp / "late.json").write_text(json.dumps({"objects": [{"id": 1, "frame": 99,
                                                            "points": [[10, 10]]}]}))
    (tmp / "fine.json").write_text(json.dumps({"objects": [{"id": 1, "box": [0, 20, 150, 136]}]}))
    (tmp / "badid.json").write_text(json.dumps({"objects": [{"id": 300, "box": [0, 0, 9, 9]}]}))
    data = checkpoint.read_bytes()
    (tmp / "cut.pth").write_bytes(data[: len(data) // 3])
    (tmp / "blocker").write_text("a file where the output folder should be")
    save_checkpoint(synthetic_model("deaots"), tmp / "DeAOTS_other.pth")
    ok = {"deaot": str(checkpoint)}
    return {
        "corrupt video": ((tmp / "corrupt.mp4",), {"mask": mask, **ok}, "not a readable video"),
        "empty video": ((tmp / "empty.mp4",), {"mask": mask, **ok}, "the file is empty"),
        "missing video": ((tmp / "absent.mp4",), {"mask": mask, **ok}, "no such file"),
        "image as video": ((mask,), {"mask": mask, **ok}, "a single image"),
        "mask of wrong size": ((clip,), {"mask": tmp / "small_mask.png", **ok},
                               "is 100x50, the video 320x136"),
        "unreadable mask": ((clip,), {"mask": tmp / "notpng.png", **ok}, "not a readable image"),
        "out-of-frame click": ((clip,), {"prompts": tmp / "outside.json", **ok},
                               r"click \(400, 10\) lies outside the 320x136 frame"),
        "prompt past the end": ((clip,), {"prompts": tmp / "late.json", **ok},
                                "on frame 99, but small.mp4 has 12 frames"),
        "malformed prompts": ((clip,), {"prompts": tmp / "bad.json", **ok}, "not valid JSON"),
        "object id out of range": ((clip,), {"prompts": tmp / "badid.json", **ok},
                                   r"id must be an integer in 1\.\.255"),
        "truncated checkpoint": ((clip,), {"mask": mask, "deaot": str(tmp / "cut.pth")},
                                 "truncated or corrupt"),
        "wrong-variant checkpoint": ((clip,), {"mask": mask, "deaot": "deaott"},
                                     "looks like a deaots checkpoint"),
        "unknown model name": ((clip,), {"mask": mask, "deaot": "r51_deaotl"},
                               "unknown deaot model 'r51_deaotl'"),
        "unknown SAM name": ((clip,), {"prompts": tmp / "fine.json", "sam": "vit_x", **ok},
                             "unknown sam model 'vit_x'"),
        "unwritable output": ((clip,), {"mask": mask, "out": tmp / "blocker" / "out", **ok},
                              "cannot write to"),
    }


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory, small_clip, first_mask, deaott_checkpoint):
    tmp = tmp_path_factory.mktemp("bad")
    return tmp, _bad_inputs(tmp, small_clip, first_mask, deaott_checkpoint)


BAD_CASES = ["corrupt video", "empty video", "missing video", "image as video",
             "mask of wrong size", "unreadable mask", "out-of-frame click",
             "prompt past the end", "malformed prompts", "object id out of range",
             "truncated checkpoint", "wrong-variant checkpoint", "unknown model name",
             "unknown SAM name", "unwritable output"]


@pytest.mark.parametrize("name", BAD_CASES)
def test_bad_input_gives_a_clear_error_and_keeps_results(name, bad_inputs, finished,
                                                         monkeypatch):
    tmp, cases = bad_inputs
    out, before = finished
    (source,), options, message = cases[name]
    if name == "wrong-variant checkpoint":  # a registry name whose file holds another variant
        weights = tmp / "weights"
        weights.mkdir(exist_ok=True)
        shutil.copy(tmp / "DeAOTS_other.pth", weights / "DeAOTT_PRE_YTB_DAV.pth")
        monkeypatch.setenv("CLICKTRACK_CHECKPOINTS", str(weights))
    target = options.pop("out", out)
    with pytest.raises((ValueError, OSError)) as error:
        track_video(source, target, skip_finished=False,
                    tracking=TrackingOptions(deaot=options.pop("deaot", None)), **options)
    assert __import__("re").search(message, str(error.value)), str(error.value)
    assert _digest(out / "small") == before


def test_cli_reports_failures_and_continues(tmp_path, bad_inputs, finished, small_clip,
                                            first_mask, deaott_checkpoint, caplog):
    caplog.set_level("INFO")
    tmp, _ = bad_inputs
    out, before = finished
    code = cli_main(["track", str(tmp / "corrupt.mp4"), str(small_clip), "--out", str(out),
                     "--mask", str(first_mask), "--deaot", str(deaott_checkpoint)])
    assert code == 1
    assert "corrupt.mp4: not a readable video (Invalid data found" in caplog.text
    assert "(same input, annotation, models and settings), skipped" in caplog.text
    assert "1 of 2 videos failed" in caplog.text
    assert _digest(out / "small") == before


def test_cli_refuses_a_missing_gpu(finished, small_clip, first_mask, caplog):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    out, _ = finished
    assert cli_main(["track", str(small_clip), "--out", str(out), "--mask", str(first_mask),
                     "--device", "cuda"]) == 2
    assert "no CUDA GPU is available" in caplog.text


def test_videos_tracked_together_match_videos_tracked_alone(tmp_path, small_clip, first_mask,
                                                            deaott_checkpoint):
    """--batch-videos steps several videos as one batch, starting the next video as one ends;
    a broken video among them fails alone and the others give the masks they give when
    tracked one by one."""
    mirrored, short = tmp_path / "mirrored.mp4", tmp_path / "short.mp4"
    with open_video(small_clip) as video, H264Writer(mirrored, 25, (320, 136)) as writer, \
            H264Writer(short, 25, (320, 136)) as short_writer:
        for index, frame in video.frames(0, 12):
            writer.write(np.ascontiguousarray(frame[:, ::-1]))
            if index < 5:
                short_writer.write(frame)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(5000))
    common = ["--mask", str(first_mask), "--deaot", str(deaott_checkpoint)]
    assert cli_main(["track", str(small_clip), str(mirrored), str(short), "--out",
                     str(tmp_path / "alone"), *common]) == 0
    # two at a time: small and broken start, broken fails at once, short starts and ends
    # after 5 frames, then mirrored starts while small is still running
    assert cli_main(["track", str(small_clip), str(broken), str(short), str(mirrored), "--out",
                     str(tmp_path / "together"), "--batch-videos", "2", *common]) == 1
    assert not (tmp_path / "together" / "broken" / "masks").exists()
    for name, frames in {"small": 12, "mirrored": 12, "short": 5}.items():
        status = json.loads((tmp_path / "together" / name / STATUS_FILE).read_text())
        assert status["complete"] and status["frames"] == frames
        for frame in range(frames):
            alone = read_label_png(tmp_path / "alone" / name / f"masks/{frame:05d}.png")
            together = read_label_png(tmp_path / "together" / name / f"masks/{frame:05d}.png")
            assert (alone == together).mean() > 0.999
    first = read_label_png(tmp_path / "together" / "small" / "masks/00011.png")
    second = read_label_png(tmp_path / "together" / "mirrored" / "masks/00011.png")
    assert not np.array_equal(first, second)  # each video kept its own memory


def test_threads_option_sets_the_cpu_threads(finished, small_clip, first_mask,
                                             deaott_checkpoint):
    import cv2
    import torch

    out, before = finished
    previous = torch.get_num_threads(), cv2.getNumThreads()
    try:
        assert cli_main(["track", str(small_clip), "--out", str(out), "--mask",
                         str(first_mask), "--deaot", str(deaott_checkpoint), "--threads",
                         "1"]) == 0
        assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    finally:
        torch.set_num_threads(previous[0])
        cv2.setNumThreads(previous[1])
    assert _digest(out / "small") == before  # the run was current: skipped, untouched
