"""The annotation formats: each written from real human masks, read back, read by the tools'
own code, and a CVAT and a Label Studio keyframe export starting a real tracking run."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from conftest import DEMO_CLIP, ROOT
from tracker.cli import main as cli_main
from tracker.formats import (
    REGISTRY,
    FormatError,
    ReadOptions,
    VideoTracks,
    detect_format,
    export_formats,
    read_annotations,
)
from tracker.formats.tracks import object_boxes
from tracker.masks import PALETTE, MaskStore, read_label_png
from tracker.video import open_video

DEV = ROOT.parent / "shared" / "davis16-dev"
pytestmark = pytest.mark.skipif(not DEV.is_dir(), reason="../shared/davis16-dev is not here")
FIXTURES = ROOT / "tests" / "data" / "formats"
SEQUENCE, FRAMES, SIZE, FPS = "blackswan", 8, (214, 120), 24.0
#: Frames the second object is absent from (it comes back on frame 5).
ABSENT = (3, 4)
CATEGORIES = {1: "swan-left", 2: "swan-right"}
KEEPS_CATEGORIES = {"coco", "objects", "ytvos", "ytvis", "cvat", "labelstudio"}
KEYFRAME_FILES = {"cvat": FIXTURES / "cvat" / "bikes_keyframes.xml",
                  "labelstudio": FIXTURES / "labelstudio" / "bikes_keyframes.json"}


@pytest.fixture(scope="module")
def truth() -> dict[int, np.ndarray]:
    """The first 8 human masks of DAVIS blackswan at 214x120, as two objects: the swan left
    (1) and right (2) of its centre on frame 0, the right part left out on frames 3 and 4."""
    labels, split = {}, None
    for index in range(FRAMES):
        swan = read_label_png(DEV / "Annotations" / SEQUENCE / f"{index:05d}.png") > 0
        swan = cv2.resize(swan.astype(np.uint8), SIZE, interpolation=cv2.INTER_NEAREST) > 0
        split = split or int(np.nonzero(swan)[1].mean())
        ids = swan.astype(np.uint8)
        ids[:, split:][swan[:, split:]] = 0 if index in ABSENT else 2
        labels[index] = ids
    return labels


@pytest.fixture(scope="module")
def exported(truth, tmp_path_factory) -> dict[str, Path]:
    tracks = VideoTracks.from_labels(SEQUENCE, truth, FPS, FRAMES, CATEGORIES)
    return export_formats(REGISTRY, tracks, tmp_path_factory.mktemp("formats"))


def _assert_boxes(found: dict, expected: dict) -> None:
    assert sorted(found) == sorted(expected)
    for object_id, box in expected.items():
        np.testing.assert_allclose(found[object_id], box, atol=1e-6)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_format_reads_back_what_it_wrote(name, exported, truth):
    annotations = read_annotations(exported[name])
    assert detect_format(exported[name]) == annotations.format == name
    assert annotations.object_ids() == [1, 2] and annotations.num_frames == FRAMES
    for index, labels in truth.items():
        if REGISTRY[name].boxes_only:
            _assert_boxes(annotations.boxes(index), object_boxes(labels))
        else:
            np.testing.assert_array_equal(annotations.labels(index), labels)
    if name in KEEPS_CATEGORIES:
        assert annotations.categories == CATEGORIES
    if name != "mot":  # MOT records no frame size
        assert (annotations.width, annotations.height) == SIZE


def test_davis_and_ytvos_folders_score_perfectly_in_vos_benchmark(exported, truth, tmp_path):
    from vos_benchmark.benchmark import VideoEvaluator

    reference = MaskStore(tmp_path / SEQUENCE)
    for index, labels in truth.items():
        reference.write(index, labels)
    for name in ("davis", "ytvos"):
        folder = exported[name] / "Annotations"
        image = Image.open(folder / SEQUENCE / "00005.png")
        assert image.mode == "P" and np.array_equal(
            np.array(image.getpalette()[:9]).reshape(3, 3), PALETTE[:3])
        _, iou, boundary = VideoEvaluator(str(tmp_path), str(folder),
                                          skip_first_and_last=False)(SEQUENCE)
        assert iou == boundary == {1: 100.0, 2: 100.0}
    meta = json.loads((exported["ytvos"] / "meta.json").read_text())
    objects = meta["videos"][SEQUENCE]["objects"]
    assert objects["1"] == {"category": "swan-left",
                            "frames": [f"{i:05d}" for i in range(FRAMES)]}
    assert objects["2"]["frames"] == [f"{i:05d}" for i in range(FRAMES) if i not in ABSENT]


def test_coco_loads_in_pycocotools(exported, truth):
    coco = COCO(str(exported["coco"]))
    assert len(coco.getImgIds()) == FRAMES
    assert {c["name"] for c in coco.loadCats(coco.getCatIds())} == set(CATEGORIES.values())
    for image_id in coco.getImgIds():
        index = coco.loadImgs(image_id)[0]["frame_index"]
        annotations = coco.loadAnns(coco.getAnnIds(imgIds=image_id))
        assert sorted(a["track_id"] for a in annotations) == \
            ([1] if index in ABSENT else [1, 2])
        for annotation in annotations:
            mask = truth[index] == annotation["track_id"]
            np.testing.assert_array_equal(coco.annToMask(annotation), mask)
            assert annotation["area"] == mask.sum()
            x0, y0, x1, y1 = object_boxes(mask.astype(np.uint8))[1]
            assert annotation["bbox"] == [x0, y0, x1 - x0, y1 - y0]


def test_ytvis_and_sav_masks_decode_in_pycocotools(exported, truth):
    ytvis = json.loads(exported["ytvis"].read_text())
    assert ytvis["videos"][0]["length"] == len(ytvis["videos"][0]["file_names"]) == FRAMES
    for annotation in ytvis["annotations"]:
        object_id = annotation["id"]
        assert annotation["video_id"] == 1
        for index, rle in enumerate(annotation["segmentations"]):
            if object_id == 2 and index in ABSENT:
                assert rle is None and annotation["bboxes"][index] is None
                continue
            mask = truth[index] == object_id
            np.testing.assert_array_equal(mask_utils.decode(rle), mask)
            assert annotation["areas"][index] == mask_utils.area(rle) == mask.sum()
            np.testing.assert_allclose(mask_utils.toBbox(rle), annotation["bboxes"][index])
    sav = json.loads(exported["sav"].read_text())
    assert sav["masklet_id"] == [0, 1] and sav["masklet_num"] == 2
    assert int(sav["video_frame_count"]) == len(sav["masklet"]) == FRAMES
    assert sav["masklet_visibility_changes"] == [0, 2]
    for index, rles in enumerate(sav["masklet"]):  # as SA-V's loader: decode(rle) > 0
        for masklet_id, rle in zip(sav["masklet_id"], rles):
            np.testing.assert_array_equal(mask_utils.decode(rle) > 0,
                                          truth[index] == masklet_id + 1)


@pytest.mark.filterwarnings("ignore:Operation with tuple is deprecated")
def test_mot_loads_in_motmetrics(exported, truth):
    import motmetrics

    table = motmetrics.io.loadtxt(str(exported["mot"]), fmt="mot15-2D")
    assert len(table) == 2 * FRAMES - len(ABSENT)
    for (frame, object_id), row in table.iterrows():
        x0, y0, x1, y1 = object_boxes(truth[frame - 1])[object_id]
        assert (row.X, row.Y, row.Width, row.Height) == (x0, y0, x1 - x0, y1 - y0)


def test_mots_lines_decode_in_pycocotools(exported, truth):
    lines = exported["mots"].read_text().splitlines()
    assert len(lines) == 2 * FRAMES - len(ABSENT)
    for line in lines:
        frame, track, class_id, height, width, counts = line.split(" ")
        assert int(track) // 1000 == int(class_id) and (int(width), int(height)) == SIZE
        mask = mask_utils.decode({"size": [int(height), int(width)], "counts": counts})
        np.testing.assert_array_equal(mask, truth[int(frame) - 1] == int(track) % 1000)


def test_cvat_masks_decode_in_cvat_sdk(exported, truth):
    from cvat_sdk.masks import decode_mask, encode_mask

    root = ET.parse(exported["cvat"]).getroot()
    assert root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert (int(task.findtext("original_size/width")),
            int(task.findtext("original_size/height"))) == SIZE
    assert [t.attrib["label"] for t in root.iter("track")] == list(CATEGORIES.values())
    for track in root.iter("track"):
        object_id = int(track.attrib["id"]) + 1
        outside = [int(m.attrib["frame"]) for m in track if m.attrib["outside"] == "1"]
        assert outside == ([ABSENT[0]] if object_id == 2 else [])
        for shape in track:
            if shape.attrib["outside"] == "1":
                continue
            a = {k: int(shape.attrib[k]) for k in ("left", "top", "width", "height")}
            points = [int(v) for v in shape.attrib["rle"].split(",")] + [
                a["left"], a["top"], a["left"] + a["width"] - 1, a["top"] + a["height"] - 1]
            mask = truth[int(shape.attrib["frame"])] == object_id
            np.testing.assert_array_equal(decode_mask(points, image_width=SIZE[0],
                                                      image_height=SIZE[1]), mask)
            assert encode_mask(mask) == points


def test_labelstudio_keyframes_expand_in_label_studio_tools(exported, truth):
    from label_studio_tools.postprocessing.video import extract_key_frames

    (task,) = json.loads(exported["labelstudio"].read_text())
    results = extract_key_frames(task["annotations"][0]["result"])
    assert [r["value"]["labels"] for r in results] == [[n] for n in CATEGORIES.values()]
    for object_id, result in enumerate(results, 1):
        frames = {}
        for key in result["value"]["sequence"]:
            x, y = key["x"] * SIZE[0] / 100, key["y"] * SIZE[1] / 100
            frames[key["frame"] - 1] = (x, y, x + key["width"] * SIZE[0] / 100,
                                        y + key["height"] * SIZE[1] / 100)
        expected = {i: object_boxes(labels)[object_id] for i, labels in truth.items()
                    if object_id in object_boxes(labels)}
        assert sorted(frames) == sorted(expected)
        for index, box in expected.items():
            np.testing.assert_allclose(frames[index], box, atol=1e-6)


def test_labelstudio_interpolates_as_label_studio_does():
    from label_studio_tools.postprocessing.video import extract_key_frames

    path = KEYFRAME_FILES["labelstudio"]
    annotations = read_annotations(path, ReadOptions(size=(160, 68)))
    results = extract_key_frames(json.loads(path.read_text())[0]["annotations"][0]["result"])
    for object_id, result in enumerate(results, 1):
        for key in result["value"]["sequence"]:
            x, y, w, h = (key[k] * s / 100 for k, s in
                          (("x", 160), ("y", 68), ("width", 160), ("height", 68)))
            np.testing.assert_allclose(annotations.boxes(key["frame"] - 1)[object_id],
                                       (x, y, x + w, y + h), atol=1e-6)
    assert sorted(annotations.frames) == list(range(6))
    assert sorted(annotations.keyframes().frames) == [0, 5]


def test_cvat_keyframes_are_the_shapes_people_drew():
    annotations = read_annotations(KEYFRAME_FILES["cvat"])
    assert annotations.categories == {1: "car", 2: "cyclist"}
    assert sorted(annotations.frames) == list(range(6))
    keyframes = annotations.keyframes()
    assert sorted(keyframes.frames) == [0, 5]
    first = keyframes.frames[0]
    assert sorted(np.unique(first.labels)) == [0, 1]  # the car's polygon, filled
    assert dict(first.boxes) == {2: (91.0, 13.0, 131.0, 68.0)}


def test_masks_read_from_one_format_write_in_another(exported, truth, tmp_path):
    tracks = read_annotations(exported["ytvis"]).to_tracks()
    for path in export_formats(["sav", "cvat"], tracks, tmp_path).values():
        annotations = read_annotations(path)
        for index, labels in truth.items():
            np.testing.assert_array_equal(annotations.labels(index), labels)
    assert read_annotations(tmp_path / "cvat.xml").categories == CATEGORIES
    with pytest.raises(FormatError, match="boxes, not masks"):
        read_annotations(exported["mot"]).to_tracks()


def test_a_file_of_no_known_format_is_refused(tmp_path):
    path = tmp_path / "notes.json"
    path.write_text('{"hello": "world"}')
    with pytest.raises(FormatError, match="no known format"):
        read_annotations(path)
    with pytest.raises(FormatError, match="frame size"):
        read_annotations(KEYFRAME_FILES["labelstudio"])  # percentages, and no size given


@pytest.fixture(scope="module")
def bikes(tmp_path_factory) -> Path:
    """The demo clip's first 6 frames at 160x68, as a folder of frames (what the keyframe
    files annotate)."""
    folder = tmp_path_factory.mktemp("clip") / "bikes"
    folder.mkdir()
    with open_video(DEMO_CLIP) as video:
        for index, frame in video.frames(0, 6):
            small = cv2.resize(frame, (160, 68), interpolation=cv2.INTER_AREA)
            cv2.imwrite(str(folder / f"{index:05d}.png"), cv2.cvtColor(small, cv2.COLOR_RGB2BGR))
    return folder


def _check_tracked_back(result: Path, name: str, formats: list[str],
                        sources: list[str]) -> None:
    """The result folder holds the ``formats`` asked for and the init file's, in which both
    objects are tracked, with their labels, on every frame; objects.json says how each
    started (``sources``: a mask or a box prompt)."""
    assert {"overlay.mp4", "annotations.json", "objects.json", "masks"} <= \
        {p.name for p in result.iterdir()}
    status = json.loads((result / ".clicktrack.json").read_text())
    assert status["formats"] == [*formats, name]
    written = read_annotations(result / REGISTRY[name].output)
    assert written.format == name and written.categories == {1: "car", 2: "cyclist"}
    assert {i: sorted(written.boxes(i)) for i in range(6)} == {i: [1, 2] for i in range(6)}
    objects = json.loads((result / "objects.json").read_text())["objects"]
    assert [(o["category"], o["source"], o["num_frames"]) for o in objects] == \
        [("car", sources[0], 6), ("cyclist", sources[1], 6)]


def test_cvat_keyframes_start_tracking_through_the_command(bikes, tmp_path):
    command = [sys.executable, "-m", "tracker", "track", str(bikes), "--out", str(tmp_path),
               "--init", str(KEYFRAME_FILES["cvat"]), "--sam", "geodesic_grabcut"]
    run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stderr
    assert "2 keyframes, objects [1, 2]" in run.stderr
    _check_tracked_back(tmp_path / "bikes", "cvat", ["overlay", "masks", "coco", "objects"],
                        ["init", "prompt"])  # the car's polygons are masks, the cyclist boxes


def test_labelstudio_keyframes_start_tracking_with_more_formats(bikes, tmp_path):
    code = cli_main(["track", str(bikes), "--out", str(tmp_path), "--init",
                     str(KEYFRAME_FILES["labelstudio"]), "--sam", "geodesic_grabcut",
                     "--formats", "overlay,masks,coco,objects,mot"])
    assert code == 0
    result = tmp_path / "bikes"
    _check_tracked_back(result, "labelstudio", ["overlay", "masks", "coco", "objects", "mot"],
                        ["prompt", "prompt"])
    written, mot = (read_annotations(result / n) for n in ("labelstudio.json", "mot.txt"))
    for index in range(6):
        _assert_boxes(mot.boxes(index), written.boxes(index))
