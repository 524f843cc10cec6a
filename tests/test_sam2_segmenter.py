"""SAM 2.1 through the segmenter interface: Meta's sam2 at toy size with random weights
(clicks, boxes, refinement, the embedding cache, segment everything), checkpoints read
safely and strictly, and the default segmenter among the models present."""

from __future__ import annotations

import pytest
import torch
from conftest import DEMO_CLIP
from text_models import toy_sam2

from tracker.models import ModelCache, default_sam_name
from tracker.sam import EVERYTHING_SETTINGS
from tracker.sam2_segmenter import (
    Sam2CheckpointError,
    Sam2Segmenter,
    build_sam2_model,
    is_sam2_checkpoint,
    load_sam2,
    read_sam2_state,
)
from tracker.segmenter import Prompt
from tracker.video import open_video

pytest.importorskip("sam2")  # the extra "sam2"; tracker imports it only to use it
pytestmark = [pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated"),
              pytest.mark.filterwarnings("ignore:cannot import name '_C'")]

CYCLIST = Prompt(((450.0, 130.0),), (1,))
CYCLIST_BOX = (370, 50, 510, 272)


@pytest.fixture(scope="module")
def frame():
    with open_video(DEMO_CLIP) as video:
        return video.read(0)


@pytest.fixture(scope="module")
def model():
    return toy_sam2()


def test_clicks_boxes_and_refinement_reuse_one_embedding(model, frame):
    segmenter = Sam2Segmenter(model)
    calls = []
    original = model.forward_image
    model.forward_image = lambda batch: calls.append(batch.shape) or original(batch)
    try:
        first = segmenter.segment(frame, CYCLIST)
        refined = segmenter.segment(frame, CYCLIST.extended(Prompt(((100.0, 100.0),), (0,))),
                                    first)
        boxed = segmenter.segment(frame, Prompt(box=CYCLIST_BOX))
        assert calls == [(1, 3, 1024, 1024)]  # one embedding for the three prompts
        segmenter.segment(frame[::-1].copy(), CYCLIST)
        assert len(calls) == 2  # a new frame is embedded again
    finally:
        model.forward_image = original
    for result in (first, refined, boxed):
        assert result.segmenter == "sam2_toy" and result.mask.shape == (272, 640)
        assert result.mask.dtype == bool and 0 <= result.score <= 1
        assert result.logits.shape == (1, 256, 256)
    assert not (refined.mask == first.mask).all()  # the negative click changed the mask


def test_refinement_uses_the_previous_mask(model, frame):
    segmenter = Sam2Segmenter(model)
    first = segmenter.segment(frame, CYCLIST)
    fed = segmenter.segment(frame, CYCLIST, first)
    fresh = segmenter.segment(frame, CYCLIST)
    assert (fresh.mask == first.mask).all()  # the same prompt alone: the same answer
    assert not (fed.mask == first.mask).all()  # with the previous logits: another one


def test_segment_everything(model, frame):
    loose = {**EVERYTHING_SETTINGS, "points_per_side": 4, "crop_n_layers": 0,
             "pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}
    masks = Sam2Segmenter(model, loose).segment_everything(frame, min_area=100)
    assert masks and all(m.shape == (272, 640) and m.dtype == bool and m.sum() >= 100
                         for m in masks)
    assert [m.sum() for m in masks] == sorted((m.sum() for m in masks), reverse=True)
    # No mask passes (a perfect predicted IoU is asked for) in any of the five crops: sam2
    # alone would fail to merge the crops; the segmenter answers "nothing".
    strict = {**EVERYTHING_SETTINGS, "points_per_side": 2, "pred_iou_thresh": 1.0}
    assert Sam2Segmenter(model, strict).segment_everything(frame, min_area=100) == []


def test_checkpoints_load_strictly_and_safely(tmp_path):
    torch.manual_seed(0)
    real = build_sam2_model("sam2.1_hiera_tiny")  # the real architecture, random weights
    state = real.state_dict()
    torch.save({"model": state}, tmp_path / "tiny.pt")
    assert is_sam2_checkpoint(tmp_path / "tiny.pt")
    loaded = load_sam2(tmp_path / "tiny.pt")
    assert loaded.arch == "sam2.1_hiera_tiny"
    assert torch.equal(loaded.state_dict()["sam_mask_decoder.iou_token.weight"],
                       state["sam_mask_decoder.iou_token.weight"])
    segmenter = ModelCache().segmenter(str(tmp_path / "tiny.pt"))  # a path: told by content
    assert isinstance(segmenter, Sam2Segmenter) and segmenter.name == "sam2.1_hiera_tiny"

    with pytest.raises(Sam2CheckpointError, match="not sam2.1_hiera_small"):
        load_sam2(tmp_path / "tiny.pt", "sam2.1_hiera_small")
    trunk = {k: v for k, v in state.items() if k.startswith("image_encoder.trunk.")}
    torch.save({"model": trunk}, tmp_path / "cut.pt")  # tiny's encoder trunk alone
    with pytest.raises(Sam2CheckpointError, match="missing keys"):
        load_sam2(tmp_path / "cut.pt")
    torch.save(trunk, tmp_path / "bare.pt")  # a state dict, not {"model": ...}
    with pytest.raises(Sam2CheckpointError, match="holds no SAM 2.1 state dict"):
        read_sam2_state(tmp_path / "bare.pt")
    assert not is_sam2_checkpoint(tmp_path / "bare.pt")
    torch.save({"model": {"image_encoder.trunk.patch_embed.proj.weight": torch.zeros(8)}},
               tmp_path / "odd.pt")
    with pytest.raises(Sam2CheckpointError, match="not a SAM 2.1 checkpoint"):
        read_sam2_state(tmp_path / "odd.pt")
    (tmp_path / "broken.pt").write_bytes(b"PK\x03\x04truncated")
    with pytest.raises(Sam2CheckpointError, match="truncated or corrupt"):
        read_sam2_state(tmp_path / "broken.pt")
    torch.save({"model": trunk, "code": torch.nn.Linear(1, 1)}, tmp_path / "pickle.pt")
    with pytest.raises(Sam2CheckpointError, match="refuses it"):
        load_sam2(tmp_path / "pickle.pt")


def test_the_default_is_sam2_when_present_and_installed(tmp_path, monkeypatch):
    monkeypatch.setenv("CLICKTRACK_CHECKPOINTS", str(tmp_path))
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert default_sam_name(cpu) is None
    for name in ("sam_vit_b_01ec64.pth", "sam_vit_h_4b8939.pth", "sam2.1_hiera_small.pt",
                 "sam2.1_hiera_large.pt"):
        (tmp_path / name).write_bytes(b"")
    assert default_sam_name(cpu) == "sam2.1_hiera_small"
    assert default_sam_name(cuda) == "sam2.1_hiera_large"
    (tmp_path / "sam2.1_hiera_base_plus.pt").write_bytes(b"")
    assert default_sam_name(cpu) == "sam2.1_hiera_base_plus"  # the CPU's first choice
    monkeypatch.setattr("tracker.models.sam2_available", lambda: False)  # no sam2 package
    assert default_sam_name(cpu) == "sam_vit_b" and default_sam_name(cuda) == "sam_vit_h"


def test_bench_segmenters_times_each_model(capsys):
    from tracker.cli import main as cli_main

    assert cli_main(["bench-segmenters", "--models", "geodesic_grabcut,grabcut", "--width",
                     "160", "--height", "90", "--repeats", "1"]) == 0
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1]
            for line in capsys.readouterr().out.splitlines() if line.startswith("| ")}
    assert set(rows) == {"model", "geodesic_grabcut", "grabcut"}
    assert [cell.strip() for cell in rows["grabcut"][:3]] == ["-", "-", "-"]
    assert float(rows["grabcut"][3]) > 0  # seconds per click
    with pytest.raises(SystemExit):
        cli_main(["bench-segmenters", "--models", "sam_vit_q"])
