"""Synthetic training and evaluation clips, generated on the fly.

A clip is a background (a real photo from scikit-image's bundled samples, or a procedural
texture) under a slow camera motion, with 1-N foreground objects: random shapes (ellipses,
polygons, blobs) filled with textures cut from other photos or generated, moving along
smooth random affine trajectories (translation, rotation, scale) that may occlude each
other and leave and re-enter the frame. Lighting drifts and some frames are blurred. The
label map of a frame is exactly what was drawn: each pixel holds the id of the topmost
object covering it.

``SyntheticClips(seed)[i]`` is a pure function of (seed, i): the same clip every time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

PHOTOS = ("astronaut.png", "coffee.png", "chelsea.png", "rocket.jpg", "ihc.png",
          "hubble_deep_field.jpg", "retina.jpg", "motorcycle_left.png", "color.png")
GREY_TEXTURES = ("brick.png", "grass.png", "gravel.png", "camera.png", "moon.png",
                 "coins.png", "page.png", "text.png", "clock_motion.png")


@lru_cache(maxsize=1)
def _images() -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The bundled scikit-image photos (RGB) and greyscale textures."""
    import skimage

    folder = Path(skimage.__file__).parent / "data"
    photos, textures = [], []
    for name in PHOTOS + GREY_TEXTURES:
        path = folder / name
        if not path.exists():
            continue
        with Image.open(path) as image:
            (photos if name in PHOTOS else textures).append(np.asarray(image.convert("RGB")))
    if not photos:
        raise RuntimeError("scikit-image's sample photos are missing; pip install scikit-image")
    return photos, textures


def procedural_texture(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """(H, W, 3) uint8: sinusoids, smooth noise, stripes or checks in random colours."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    kind = rng.integers(4)
    if kind == 0:
        field = sum(np.sin(xx * rng.uniform(0.02, 0.3) + yy * rng.uniform(-0.3, 0.3)
                           + rng.uniform(0, 6.3)) for _ in range(3))
    elif kind == 1:
        small = rng.uniform(-1, 1, (max(2, height // 16), max(2, width // 16))).astype(np.float32)
        field = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
    elif kind == 2:
        field = np.sign(np.sin((xx * np.cos(a := rng.uniform(0, 3.2)) + yy * np.sin(a))
                               * rng.uniform(0.1, 0.6)))
    else:
        step = rng.integers(6, 30)
        field = ((xx // step + yy // step) % 2) * 2 - 1
    field = (field - field.min()) / (np.ptp(field) + 1e-6)
    low, high = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    image = low + field[..., None] * (high - low)
    return np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)


def _crop(rng: np.random.Generator, image: np.ndarray, height: int, width: int) -> np.ndarray:
    """A random crop of ``image`` rescaled to (height, width), as RGB."""
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    h, w = image.shape[:2]
    scale = rng.uniform(0.4, 1.0)
    ch, cw = max(8, int(h * scale)), max(8, int(w * scale))
    y, x = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    crop = image[y:y + ch, x:x + cw]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return cv2.resize(np.ascontiguousarray(crop), (width, height), interpolation=cv2.INTER_AREA)


def random_shape(rng: np.random.Generator, size: int) -> np.ndarray:
    """(size, size) bool: an ellipse, a polygon or a smooth blob, filling much of the box."""
    mask = np.zeros((size, size), np.uint8)
    centre = size // 2
    kind = rng.integers(3)
    if kind == 0:
        axes = (int(size * rng.uniform(0.2, 0.48)), int(size * rng.uniform(0.2, 0.48)))
        cv2.ellipse(mask, (centre, centre), axes, rng.uniform(0, 180), 0, 360, 1, -1)
    elif kind == 1:
        count = rng.integers(3, 9)
        angles = np.sort(rng.uniform(0, 2 * np.pi, count))
        radii = size * rng.uniform(0.2, 0.48, count)
        points = np.stack([centre + radii * np.cos(angles), centre + radii * np.sin(angles)], 1)
        cv2.fillPoly(mask, [points.astype(np.int32)], 1)
    else:
        noise = rng.uniform(-1, 1, (6, 6)).astype(np.float32)
        field = cv2.resize(noise, (size, size), interpolation=cv2.INTER_CUBIC)
        yy, xx = np.mgrid[0:size, 0:size]
        falloff = 1 - ((yy - centre) ** 2 + (xx - centre) ** 2) / (0.5 * size) ** 2
        mask = ((field * 0.6 + falloff) > 0.45).astype(np.uint8)
    return mask.astype(bool)


@dataclass(frozen=True)
class _Track:
    """An object's texture, shape and smooth affine trajectory over the clip."""

    texture: np.ndarray
    shape: np.ndarray
    position: np.ndarray      # (T, 2) centre (x, y)
    angle: np.ndarray         # (T,) degrees
    scale: np.ndarray         # (T,)

    def warp(self, t: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        size = self.shape.shape[0]
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), float(self.angle[t]),
                                         float(self.scale[t]))
        matrix[:, 2] += self.position[t] - size / 2
        image = cv2.warpAffine(self.texture, matrix, (width, height), flags=cv2.INTER_LINEAR)
        mask = cv2.warpAffine(self.shape.astype(np.uint8), matrix, (width, height),
                              flags=cv2.INTER_NEAREST)
        return image, mask.astype(bool)


def _smooth_path(rng: np.random.Generator, frames: int, start: float,
                 speed: float) -> np.ndarray:
    """A 1-D smooth random walk: velocity changes slowly."""
    velocity = rng.normal(0, speed)
    values = [start]
    for _ in range(frames - 1):
        velocity = 0.85 * velocity + rng.normal(0, speed * 0.5)
        values.append(values[-1] + velocity)
    return np.array(values)


def _excursion(rng: np.random.Generator, frames: int, extent: float) -> np.ndarray:
    """A slow swing of up to ``extent`` pixels that carries an object out of the frame and
    back in on long clips."""
    period = rng.uniform(20, 60)
    amplitude = rng.choice([-1, 1]) * rng.uniform(0.5, 0.9) * extent
    return amplitude * np.sin(2 * np.pi * np.arange(frames) / period)


class SyntheticClips:
    """An endless, reproducible collection of synthetic clips.

    Args:
        seed: selects the collection; clip ``i`` depends only on (seed, i).
        size: (height, width) of the frames.
        frames: frames per clip.
        max_objects: objects per clip, drawn from 1..max_objects.
        motion: typical speed in pixels per frame.
    """

    def __init__(self, seed: int, size: tuple[int, int] = (192, 192), frames: int = 5,
                 max_objects: int = 3, motion: float = 4.0) -> None:
        self.seed = seed
        self.size = size
        self.frames = frames
        self.max_objects = max_objects
        self.motion = motion

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """Clip ``index``: frames (T, H, W, 3) uint8 RGB and labels (T, H, W) uint8."""
        return self.render(index, range(self.frames))

    def render(self, index: int, times: range | list[int]) -> tuple[np.ndarray, np.ndarray]:
        """Only the frames at ``times`` (ascending) of clip ``index``."""
        rng = np.random.default_rng([self.seed, index])
        height, width = self.size
        frames = self.frames

        canvas, pan = self._background(rng)
        tracks = self._tracks(rng)
        gains = np.exp(_smooth_path(rng, frames, 0.0, 0.03))
        blurred = rng.random(frames) < 0.15
        out_frames = np.empty((len(times), height, width, 3), np.uint8)
        out_labels = np.zeros((len(times), height, width), np.uint8)
        for n, t in enumerate(times):
            y, x = pan[t]
            image = canvas[y:y + height, x:x + width].astype(np.float32)
            labels = out_labels[n]
            for object_id, track in enumerate(tracks, start=1):
                texture, mask = track.warp(t, height, width)
                image[mask] = texture[mask]
                labels[mask] = object_id
            image *= gains[t]
            if blurred[t]:
                image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.8, 2.0))
            out_frames[n] = np.clip(image + rng.normal(0, 2, image.shape), 0, 255)
        return out_frames, out_labels

    def _background(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A canvas larger than the frame and the camera's (T, 2) pan over it."""
        photos, _ = _images()
        height, width = self.size
        pad = int(0.25 * max(height, width))
        if rng.random() < 0.7:
            canvas = _crop(rng, photos[rng.integers(len(photos))], height + 2 * pad,
                           width + 2 * pad)
        else:
            canvas = procedural_texture(rng, height + 2 * pad, width + 2 * pad)
        pan = np.stack([_smooth_path(rng, self.frames, pad, self.motion * 0.3),
                        _smooth_path(rng, self.frames, pad, self.motion * 0.3)], 1)
        return canvas, np.clip(pan, 0, 2 * pad).astype(int)

    def _tracks(self, rng: np.random.Generator) -> list[_Track]:
        """The clip's objects, bottom to top, each visible in frame 0."""
        photos, textures = _images()
        height, width = self.size
        frames = self.frames
        tracks = []
        for _ in range(rng.integers(1, self.max_objects + 1)):
            size = int(min(height, width) * rng.uniform(0.25, 0.6))
            source = rng.random()
            if source < 0.45:
                texture = _crop(rng, photos[rng.integers(len(photos))], size, size)
            elif source < 0.65 and textures:
                grey = _crop(rng, textures[rng.integers(len(textures))], size, size)
                texture = np.clip(grey * rng.uniform(0.4, 1.2, 3), 0, 255).astype(np.uint8)
            else:
                texture = procedural_texture(rng, size, size)
            start = np.array([rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height])
            position = np.stack([_smooth_path(rng, frames, start[0], self.motion),
                                 _smooth_path(rng, frames, start[1], self.motion)], 1)
            if rng.random() < 0.3:
                axis = rng.integers(2)
                position[:, axis] += _excursion(rng, frames, (width, height)[axis])
            angle = _smooth_path(rng, frames, rng.uniform(0, 360), 3.0)
            scale = np.exp(_smooth_path(rng, frames, 0.0, 0.02))
            tracks.append(_Track(texture, random_shape(rng, size), position, angle, scale))
        return _visible_at_start(tracks, height, width)


def _visible_at_start(tracks: list[_Track], height: int, width: int,
                      min_pixels: int = 64) -> list[_Track]:
    """The tracks that show at least ``min_pixels`` in frame 0 (a reference frame must show
    every object it introduces); the first track is kept in any case."""
    labels = np.zeros((height, width), np.int32)
    for object_id, track in enumerate(tracks, start=1):
        labels[track.warp(0, height, width)[1]] = object_id
    counts = np.bincount(labels.ravel(), minlength=len(tracks) + 1)
    kept = [t for i, t in enumerate(tracks, start=1) if counts[i] >= min_pixels]
    return kept or tracks[:1]
