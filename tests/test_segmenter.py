"""Prompts to masks: GrabCut on real frames, SAM's embedding cache and safe loading."""

from __future__ import annotations

import pytest
import torch

from conftest import DEMO_CLIP
from tracker.grabcut import GrabCutSegmenter
from tracker.sam import SamCheckpointError, SamSegmenter, load_sam
from tracker.segmenter import Prompt, PromptError
from tracker.video import open_video

VAN_BOX = (0, 40, 300, 272)
CYCLIST_BOX = (370, 50, 510, 272)


@pytest.fixture(scope="module")
def frame():
    with open_video(DEMO_CLIP) as video:
        return video.read(0)


def tiny_sam() -> torch.nn.Module:
    """SAM's architecture at toy size (random weights) to exercise the plumbing."""
    from functools import partial

    from segment_anything.modeling import (ImageEncoderViT, MaskDecoder, PromptEncoder, Sam,
                                           TwoWayTransformer)

    torch.manual_seed(0)
    sam = Sam(
        image_encoder=ImageEncoderViT(img_size=128, patch_size=16, embed_dim=32, depth=1,
                                      num_heads=2, out_chans=32, window_size=4,
                                      norm_layer=partial(torch.nn.LayerNorm, eps=1e-6)),
        prompt_encoder=PromptEncoder(embed_dim=32, image_embedding_size=(8, 8),
                                     input_image_size=(128, 128), mask_in_chans=4),
        mask_decoder=MaskDecoder(num_multimask_outputs=3, transformer_dim=32,
                                 transformer=TwoWayTransformer(depth=1, embedding_dim=32,
                                                               mlp_dim=64, num_heads=2)),
    )
    sam.arch = "tiny"
    return sam.eval()


def test_grabcut_box_segments_the_van(frame):
    result = GrabCutSegmenter().segment(frame, Prompt(box=VAN_BOX))
    x0, y0, x1, y1 = VAN_BOX
    assert result.segmenter == "grabcut"
    assert result.mask.shape == frame.shape[:2] and result.mask.dtype == bool
    inside = result.mask[y0:y1, x0:x1].sum()
    assert inside == result.mask.sum()  # nothing outside the box
    assert 0.5 < inside / ((x1 - x0) * (y1 - y0)) < 0.95


def test_grabcut_clicks_and_negative_click(frame):
    segmenter = GrabCutSegmenter()
    clicks = Prompt(((450.0, 130.0), (440.0, 70.0)), (1, 1))
    first = segmenter.segment(frame, clicks)
    assert first.mask[130, 450] and first.mask[70, 440]
    refined = segmenter.segment(frame, clicks.extended(Prompt(((450.0, 100.0),), (0,))), first)
    assert not refined.mask[100, 450]


@pytest.mark.parametrize("prompt,message", [
    (Prompt(((700.0, 10.0),), (1,)), r"click \(700, 10\) lies outside the 640x272 frame"),
    (Prompt(((10.0, -1.0),), (1,)), "lies outside"),
    (Prompt(box=(10, 10, 5, 20)), "x0 < x1"),
    (Prompt(box=(0, 0, 641, 100)), "does not lie inside"),
    (Prompt(((10.0, 10.0),), (0,)), "at least one positive click"),
    (Prompt(((10.0, 10.0),), (1, 0)), "1 clicks but 2 click labels"),
    (Prompt(((10.0, 10.0),), (2,)), "must be 1"),
])
def test_bad_prompts(frame, prompt, message):
    with pytest.raises(PromptError, match=message):
        GrabCutSegmenter().segment(frame, prompt)


def test_sam_embeds_each_frame_once_in_rgb(frame):
    model = tiny_sam()
    segmenter = SamSegmenter(model)
    calls = []
    original = model.image_encoder.forward
    model.image_encoder.forward = lambda x: calls.append(x) or original(x)
    first = segmenter.segment(frame, Prompt(((450.0, 130.0),), (1,)))
    second = segmenter.segment(frame, Prompt(((450.0, 130.0), (100.0, 100.0)), (1, 0)), first)
    assert len(calls) == 1  # both clicks reused one embedding
    assert first.segmenter == second.segmenter == "sam_tiny"
    assert first.mask.shape == frame.shape[:2] and first.logits.shape == (1, 32, 32)
    assert first.score is not None

    segmenter.segment(frame[::-1].copy(), Prompt(box=(0, 0, 100, 100)))
    assert len(calls) == 2  # a new frame is embedded again
    segmenter.segment(frame, Prompt(((450.0, 130.0),), (1,)))

    from segment_anything import SamPredictor

    model.image_encoder.forward = original
    reference = SamPredictor(model)
    with torch.inference_mode():
        reference.set_image(frame, image_format="RGB")
        rgb = reference.features.clone()
        reference.set_image(frame[:, :, ::-1].copy(), image_format="RGB")
        bgr = reference.features.clone()
    assert torch.allclose(segmenter.predictor.features, rgb)
    assert not torch.allclose(segmenter.predictor.features, bgr)


def test_sam_checkpoints_load_safely(tmp_path):
    (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04truncated")
    with pytest.raises(SamCheckpointError, match="truncated or corrupt"):
        load_sam(tmp_path / "cut.pth")
    torch.save({"decoder.weight": torch.zeros(2)}, tmp_path / "other.pth")
    with pytest.raises(SamCheckpointError, match="not a Segment Anything checkpoint"):
        load_sam(tmp_path / "other.pth")
    torch.save({"image_encoder.pos_embed": torch.zeros(1, 64, 64, 768)}, tmp_path / "b.pth")
    with pytest.raises(SamCheckpointError, match="is a SAM vit_b checkpoint, not vit_h"):
        load_sam(tmp_path / "b.pth", arch="vit_h")
    with pytest.raises(SamCheckpointError, match="missing keys"):
        load_sam(tmp_path / "b.pth")
    with pytest.raises(FileNotFoundError):
        load_sam(tmp_path / "absent.pth")
