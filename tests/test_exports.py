"""Every export read back: H.264 overlay, palette PNGs, COCO RLE, objects.json."""

from __future__ import annotations

import json

import av
import numpy as np
import pytest
from PIL import Image

from conftest import box_mask
from tracker.exports import export_results, zip_masks
from tracker.formats.rle import decode_rle
from tracker.masks import PALETTE, MaskStore, encode_png, read_label_png
from tracker.video import open_video


@pytest.fixture(scope="module")
def exported(small_clip, tmp_path_factory):
    """The small clip with two moving boxes as stored results, exported."""
    out = tmp_path_factory.mktemp("export")
    store = MaskStore(out / "masks")
    with open_video(small_clip) as video:
        shape = (video.info.height, video.info.width)
        for index in range(video.info.num_frames):
            boxes = {3: (10 + 5 * index, 20, 60 + 5 * index, 90)}
            if index >= 4:
                boxes[7] = (200, 10, 260, 60 + index)
            store.write(index, box_mask(shape, boxes))
        paths = export_results(video, store, out, {3: {"source": "prompt"}})
    return out, store, paths


def test_masks_are_palette_pngs_of_ids(exported):
    out, store, _ = exported
    image = Image.open(store.path(5))
    assert image.mode == "P"
    assert set(np.unique(np.asarray(image))) == {0, 3, 7}
    palette = np.array(image.getpalette()[:768]).reshape(-1, 3)
    assert np.array_equal(palette[:8], PALETTE[:8])


def test_overlay_is_h264_with_the_frames_and_rate(exported, small_clip):
    _, _, paths = exported
    with av.open(str(paths["overlay"])) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.average_rate == 25
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(stream)]
    assert len(frames) == 12 and frames[0].shape == (136, 320, 3)
    with open_video(small_clip) as video:
        original = video.read(5)
    inside, outside = (slice(30, 80), slice(40, 80)), (slice(100, 130), slice(100, 150))
    assert np.abs(frames[5][inside].astype(int) - original[inside]).mean() > 20  # tinted
    assert np.abs(frames[5][outside].astype(int) - original[outside]).mean() < 6


def test_coco_rle_decodes_to_the_masks_on_disk(exported):
    out, store, _ = exported
    coco = json.loads((out / "annotations.json").read_text())
    assert len(coco["images"]) == 12 and coco["categories"][0]["id"] == 1
    assert len(coco["annotations"]) == 12 + 8
    assert len({a["id"] for a in coco["annotations"]}) == 20
    for annotation in coco["annotations"]:
        labels = store.read(annotation["image_id"] - 1)
        mask = labels == annotation["track_id"]
        assert np.array_equal(decode_rle(annotation["segmentation"]), mask)
        assert annotation["area"] == mask.sum()
        ys, xs = np.nonzero(mask)
        assert annotation["bbox"] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                                      ys.max() - ys.min() + 1]


def test_objects_json(exported):
    out, _, _ = exported
    document = json.loads((out / "objects.json").read_text())
    objects = {o["id"]: o for o in document["objects"]}
    assert objects[3]["frames"] == list(range(12)) and objects[3]["source"] == "prompt"
    assert objects[7]["frames"] == list(range(4, 12))
    assert objects[7]["boxes"][0] == [200, 10, 260, 64]
    assert document["num_frames"] == 12 and document["fps"] == 25


def test_masks_zip(exported, tmp_path):
    import zipfile

    _, store, _ = exported
    with zipfile.ZipFile(zip_masks(store, tmp_path / "masks.zip")) as archive:
        names = archive.namelist()
        assert names == [f"masks/{i:05d}.png" for i in range(12)]


def test_label_pngs_in_other_formats(tmp_path):
    labels = box_mask((20, 30), {1: (0, 0, 10, 10), 12: (10, 5, 30, 20)})
    Image.fromarray(labels, mode="L").save(tmp_path / "grey.png")
    Image.fromarray(PALETTE[labels]).save(tmp_path / "rgb.png")
    (tmp_path / "palette.png").write_bytes(encode_png(labels))
    for name in ("grey.png", "rgb.png", "palette.png"):
        assert np.array_equal(read_label_png(tmp_path / name), labels)
    Image.fromarray(np.full((20, 30, 3), 77, np.uint8)).save(tmp_path / "photo.png")
    with pytest.raises(ValueError, match="is no object id"):
        read_label_png(tmp_path / "photo.png")
    with pytest.raises(ValueError, match="is 30x20, the video 64x64"):
        read_label_png(tmp_path / "grey.png", (64, 64))
