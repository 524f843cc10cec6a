"""Training data: synthetic clips and VOS-format datasets, as batches of network inputs.

A VOS dataset is a folder with ``JPEGImages/<video>/*.jpg`` and palette PNGs in
``Annotations/<video>/*.png`` (DAVIS, YouTube-VOS). Clips are sampled with random frame gaps,
random scale crops and flips, and object ids renumbered 1..n (at most the model's 10).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
import torch
from PIL import Image

from aot.preprocess import MEAN, STD
from aot.train.synthetic_clips import SyntheticClips


class Batch(NamedTuple):
    """A training batch as the loader hands it over: uint8, a quarter of the bytes of
    network inputs (workers pass batches through shared memory).

    images (B, T, H, W, 3) uint8 RGB; labels (B, T, H, W) uint8 ids; num_objects (B,) int64.
    """

    images: torch.Tensor
    labels: torch.Tensor
    num_objects: torch.Tensor

    def network_inputs(self, device: torch.device | str = "cpu"
                       ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """On ``device``: frames (B, T, 3, H, W) float32 normalised like inference, labels
        (B, T, H, W) int64 and num_objects (B,) int64."""
        images = self.images.to(device, non_blocking=True)
        mean = torch.as_tensor(MEAN, dtype=torch.float32, device=images.device)
        std = torch.as_tensor(STD, dtype=torch.float32, device=images.device)
        frames = (images.float() / 255.0 - mean) / std
        return (frames.permute(0, 1, 4, 2, 3).contiguous(),
                self.labels.to(device, non_blocking=True).long(),
                self.num_objects.to(device, non_blocking=True))


def renumber(labels: np.ndarray, max_objects: int,
             rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Map the ids visible in the first frame to 1..n (n <= max_objects); others to 0."""
    present = [int(i) for i in np.unique(labels[0]) if i]
    if len(present) > max_objects:
        present = sorted(rng.choice(present, max_objects, replace=False).tolist())
    table = np.zeros(256, np.uint8)
    for new, old in enumerate(present, start=1):
        table[old] = new
    return table[labels], len(present)


class VOSFolder:
    """Clips sampled from a DAVIS/YouTube-VOS style folder."""

    def __init__(self, root: str | Path, max_gap: int = 5) -> None:
        self.root = Path(root)
        self.max_gap = max_gap
        annotations = self.root / "Annotations"
        if not annotations.is_dir() or not (self.root / "JPEGImages").is_dir():
            raise FileNotFoundError(f"{self.root} is no VOS dataset: expected JPEGImages/ and "
                                    "Annotations/ folders")
        self.videos = []
        for video in sorted(p for p in annotations.iterdir() if p.is_dir()):
            names = sorted(p.stem for p in video.glob("*.png"))
            images = self.root / "JPEGImages" / video.name
            names = [n for n in names if (images / f"{n}.jpg").exists()]
            if len(names) >= 2:
                self.videos.append((video.name, names))
        if not self.videos:
            raise FileNotFoundError(f"{self.root}: no video with at least two annotated frames")

    def sample(self, rng: np.random.Generator, frames: int, size: tuple[int, int]
               ) -> tuple[np.ndarray, np.ndarray]:
        """frames (T, H, W, 3) uint8 and labels (T, H, W) uint8 at ``size``."""
        video, names = self.videos[rng.integers(len(self.videos))]
        picks = [int(rng.integers(len(names)))]
        for _ in range(frames - 1):
            picks.append(min(len(names) - 1, picks[-1] + int(rng.integers(1, self.max_gap + 1))))
        if rng.random() < 0.5:
            picks = picks[::-1]
        images = [np.asarray(Image.open(self.root / "JPEGImages" / video / f"{names[i]}.jpg")
                             .convert("RGB")) for i in picks]
        labels = [np.asarray(Image.open(self.root / "Annotations" / video / f"{names[i]}.png"))
                  for i in picks]
        return _random_crop(rng, np.stack(images), np.stack(labels), size)


def _random_crop(rng: np.random.Generator, images: np.ndarray, labels: np.ndarray,
                 size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    height, width = size
    h, w = images.shape[1:3]
    scale = rng.uniform(0.7, 1.3) * max(height / h, width / w)
    ch, cw = min(h, int(height / scale)), min(w, int(width / scale))
    y, x = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
    flip = rng.random() < 0.5
    out_images = np.empty((len(images), height, width, 3), np.uint8)
    out_labels = np.empty((len(images), height, width), np.uint8)
    for i, (image, label) in enumerate(zip(images, labels)):
        image, label = image[y:y + ch, x:x + cw], label[y:y + ch, x:x + cw]
        if flip:
            image, label = image[:, ::-1], label[:, ::-1]
        out_images[i] = cv2.resize(np.ascontiguousarray(image), (width, height),
                                   interpolation=cv2.INTER_LINEAR)
        out_labels[i] = cv2.resize(np.ascontiguousarray(label), (width, height),
                                   interpolation=cv2.INTER_NEAREST)
    return out_images, out_labels


class ClipSampler:
    """Deterministic batches mixing the given sources.

    Batch ``step`` depends only on (seed, step), so a resumed run sees the same data.

    Args:
        sources: ``"synthetic"`` and/or VOS dataset folders.
        seed: data seed.
        size: (H, W) of the network input.
        frames: frames per clip.
        max_objects: objects per clip at most.
        max_gap: largest step between sampled frames (1: consecutive frames). Gaps teach
            the network the larger changes it meets far from its reference frame.
    """

    def __init__(self, sources: list[str], seed: int, size: tuple[int, int], frames: int,
                 max_objects: int = 10, max_gap: int = 1) -> None:
        self.seed, self.size, self.frames, self.max_objects = seed, size, frames, max_objects
        self.max_gap = max_gap
        span = (frames - 1) * max_gap + 1
        self.synthetic = SyntheticClips(seed, size, span, max_objects=min(3, max_objects)) \
            if "synthetic" in sources else None
        self.folders = [VOSFolder(s, max_gap=max(max_gap, 5)) for s in sources
                        if s != "synthetic"]
        if self.synthetic is None and not self.folders:
            raise ValueError("no training data: give 'synthetic' or VOS dataset folders")

    def batch(self, step: int, batch_size: int) -> Batch:
        frames, labels, counts = [], [], []
        for i in range(batch_size):
            rng = np.random.default_rng([self.seed, step, i])
            sources = (1 if self.synthetic is not None else 0) + len(self.folders)
            choice = int(rng.integers(sources))
            if self.synthetic is not None and choice == 0:
                gaps = rng.integers(1, self.max_gap + 1, self.frames - 1) \
                    if self.max_gap > 1 else np.ones(self.frames - 1, int)
                times = [0] + np.cumsum(gaps).tolist()
                clip_frames, clip_labels = self.synthetic.render(step * batch_size + i, times)
            else:
                folder = self.folders[choice - (1 if self.synthetic is not None else 0)]
                clip_frames, clip_labels = folder.sample(rng, self.frames, self.size)
            clip_labels, count = renumber(clip_labels, self.max_objects, rng)
            frames.append(clip_frames)
            labels.append(clip_labels)
            counts.append(count)
        return Batch(torch.from_numpy(np.stack(frames)), torch.from_numpy(np.stack(labels)),
                     torch.tensor(counts, dtype=torch.int64))
