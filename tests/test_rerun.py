"""Reruns: one folder per input, redone when what made it changed, never lost to a bad run."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import box_mask
from tracker.batch import STATUS_FILE, check_distinct_outputs
from tracker.cli import main as cli_main
from tracker.masks import encode_png
from tracker.prompts import PromptsFileError, parse_prompts
from tracker.video import open_video


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture()
def setup(tmp_path, small_clip, deaott_checkpoint):
    """A clip, two masks, and a finished result of the clip with the first mask."""
    clip = tmp_path / "clips" / "small.mp4"
    clip.parent.mkdir()
    shutil.copy(small_clip, clip)
    masks = {}
    for name, box in {"a": (0, 20, 150, 136), "b": (185, 25, 255, 136)}.items():
        masks[name] = tmp_path / f"{name}.png"
        masks[name].write_bytes(encode_png(box_mask((136, 320), {1: box})))
    out = tmp_path / "out"
    common = ["--deaot", str(deaott_checkpoint)]
    assert cli_main(["track", str(clip), "--out", str(out), "--mask", str(masks["a"]),
                     *common]) == 0
    return clip, masks, out, common


def test_a_rerun_skips_a_current_result_and_redoes_a_changed_one(setup, caplog, tmp_path):
    """Before: a rerun with another mask, model or setting was skipped as finished."""
    clip, masks, out, common = setup
    caplog.set_level("INFO")
    before = _digest(out / "small")
    assert cli_main(["track", str(clip), "--out", str(out), "--mask", str(masks["a"]),
                     *common]) == 0
    assert "up to date" in caplog.text and _digest(out / "small") == before
    caplog.clear()
    assert cli_main(["track", str(clip), "--out", str(out), "--mask", str(masks["b"]),
                     *common]) == 0
    assert "redoing the finished result" in caplog.text and "first-frame mask changed" \
        in caplog.text
    assert _digest(out / "small") != before
    caplog.clear()
    assert cli_main(["track", str(clip), "--out", str(out), "--mask", str(masks["b"]),
                     "--flip", "on", *common]) == 0
    assert "flip False -> True" in caplog.text
    status = json.loads((out / "small" / STATUS_FILE).read_text())
    assert status["fingerprint"]["settings"]["flip"] is True
    caplog.clear()
    clip.write_bytes(clip.read_bytes())  # same bytes, a new modification time
    assert cli_main(["track", str(clip), "--out", str(out), "--mask", str(masks["b"]),
                     "--flip", "on", *common]) == 0
    assert "the input changed" in caplog.text


def test_a_changed_model_is_noticed(setup, caplog, tmp_path):
    clip, masks, out, common = setup
    caplog.set_level("INFO")
    assert cli_main(["track", str(clip), "--out", str(out), "--mask", str(masks["a"]),
                     "--deaot", "clicktrack_deaott", "--flip", "off", "--scales", "1.0"]) == 0
    assert "the DeAOT model changed" in caplog.text


@pytest.mark.parametrize("names", [("a/clip.mp4", "b/clip.mp4"), ("clip.mp4", "clip.mov"),
                                   ("x", "x.zip")])
def test_inputs_that_would_share_a_folder_are_refused_up_front(names, tmp_path, caplog):
    """Before: both reported success and one result was gone."""
    inputs = [str(tmp_path / name) for name in names]
    with pytest.raises(ValueError, match="would both write"):
        check_distinct_outputs(inputs, tmp_path / "out")
    assert cli_main(["track", *inputs, "--out", str(tmp_path / "out"), "--mask", "m.png"]) == 2
    assert "would both write" in caplog.text and not (tmp_path / "out").exists()
    check_distinct_outputs([inputs[0], inputs[0]], tmp_path / "out")  # the same input twice


def test_another_input_of_the_same_name_needs_force(setup, caplog, tmp_path,
                                                    deaott_checkpoint):
    clip, masks, out, common = setup
    other = tmp_path / "elsewhere" / "small.mp4"
    other.parent.mkdir()
    shutil.copy(clip, other)
    before = _digest(out / "small")
    assert cli_main(["track", str(other), "--out", str(out), "--mask", str(masks["a"]),
                     *common]) == 1
    assert "holds the result of another input" in caplog.text
    assert _digest(out / "small") == before
    assert cli_main(["track", str(other), "--out", str(out), "--mask", str(masks["a"]),
                     "--force", *common]) == 0
    status = json.loads((out / "small" / STATUS_FILE).read_text())
    assert status["input"] == str(other.resolve())


def _frames_folder(tmp_path: Path, small_clip: Path) -> Path:
    folder = tmp_path / "frames"
    folder.mkdir()
    with open_video(small_clip) as video:
        for index, frame in video.frames(0, 6):
            cv2.imwrite(str(folder / f"{index:05d}.png"), frame[..., ::-1])
    return folder


def test_force_with_a_late_error_keeps_the_previous_result(tmp_path, small_clip, setup,
                                                           caplog):
    """Before: --force emptied masks/ and left the old overlay beside nothing."""
    clip, masks, out, common = setup
    before = _digest(out / "small")
    (tmp_path / "zero.png").write_bytes(encode_png(np.zeros((136, 320), np.uint8)))
    force = ["--out", str(out), "--force", *common]
    assert cli_main(["track", str(clip), "--mask", str(tmp_path / "zero.png"), *force]) == 1
    assert "holds no object" in caplog.text
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({"objects": [{"id": 1, "box": [0, 20, 150, 136]}]}))
    assert cli_main(["track", str(clip), "--prompts", str(prompts), "--sam", "grabcut",
                     "--sam-gap", "4", *force]) == 1
    assert "--sam-gap needs SAM" in caplog.text
    with pytest.raises(SystemExit):
        cli_main(["track", str(clip), "--mask", str(masks["a"]), "--max-long-term", "-1",
                  *force])
    assert _digest(out / "small") == before

    frames = _frames_folder(tmp_path, small_clip)
    assert cli_main(["track", str(frames), "--mask", str(masks["a"]), *force]) == 0
    finished = _digest(out / "frames")
    odd = np.zeros((100, 200, 3), np.uint8)
    cv2.imwrite(str(frames / "00004.png"), odd)  # found only when tracking reaches it
    assert cli_main(["track", str(frames), "--mask", str(masks["a"]), *force]) == 1
    assert "00004.png is 200x100, the first frame 320x136" in caplog.text
    assert _digest(out / "frames") == finished
    assert sorted(p.name for p in out.iterdir() if p.name.startswith(".")) == \
        [".frames.lock", ".small.lock"]


def test_a_missing_input_is_named_once(tmp_path, caplog):
    missing = tmp_path / "nowhere" / "absent.mp4"
    mask = tmp_path / "m.png"
    mask.write_bytes(encode_png(box_mask((10, 10), {1: (0, 0, 5, 5)})))
    assert cli_main(["track", str(missing), "--out", str(tmp_path / "out"), "--mask",
                     str(mask)]) == 1
    line = next(r.getMessage() for r in caplog.records if "no such file" in r.getMessage())
    assert line == f"{missing}: no such file or folder"


@pytest.mark.parametrize("field", ["id", "frame"])
def test_booleans_are_not_integers_in_prompts(field):
    """Before: ``"id": true`` was taken as object 1."""
    entry = {"id": 1, "frame": 0, "points": [[1, 2]], field: True}
    with pytest.raises(PromptsFileError, match=f"{field} must be"):
        parse_prompts({"objects": [entry]})
    with pytest.raises(PromptsFileError, match="labels must"):
        parse_prompts({"objects": [{"id": 1, "points": [[1, 2]], "labels": [True]}]})
