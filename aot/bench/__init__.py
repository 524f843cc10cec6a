"""Benchmarks of the propagation engine (the command is :mod:`aot.bench.__main__`).

Frames are a deterministic synthetic scene (textured background, moving ellipses); weights
are the deterministic synthetic ones (:mod:`aot.bench.synthetic_weights`) unless
``--checkpoint`` is given.
The time of a frame covers propagation, decoding, the label map on the host and the memory
update of the previous frame.
"""

from __future__ import annotations

import logging
import resource
import statistics
import time

import numpy as np
import torch

from aot.checkpoint import load_model
from aot.config import VARIANTS
from aot.model.deaot import DeAOT
from aot.model.local_attention import dense_window_attention, local_window_attention
from aot.propagator import Propagator
from aot.stepping import step_together
from aot.bench.synthetic_weights import synthetic_model_state

logger = logging.getLogger(__name__)


class SyntheticClip:
    """A deterministic scene of ``objects`` ellipses drifting over a texture; frames are
    rendered on demand, so clips of any length take no memory.

    Attributes:
        first_mask: (H, W) uint8 labels of frame 0.
    """

    def __init__(self, height: int, width: int, objects: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.yy, self.xx = np.mgrid[0:height, 0:width].astype(np.float32)
        self.background = (127 + 60 * np.sin(self.xx / 17.0)[..., None]
                           * np.cos(self.yy / 23.0)[..., None] * rng.uniform(0.5, 1.0, size=3))
        self.centres = rng.uniform(0.2, 0.8, size=(objects, 2)) * (height, width)
        self.radii = rng.uniform(0.05, 0.15, size=(objects, 2)) * min(height, width)
        self.velocity = rng.uniform(-2, 2, size=(objects, 2))
        self.colours = rng.uniform(0, 255, size=(objects, 3))
        self.size = (height, width)
        self.first_mask = self.render(0)[1]

    def render(self, t: int) -> tuple[np.ndarray, np.ndarray]:
        """Frame ``t``: (H, W, 3) uint8 RGB and its (H, W) uint8 labels."""
        image = self.background.copy()
        labels = np.zeros(self.size, np.uint8)
        height, width = self.size
        for i in range(len(self.centres)):
            # bounce inside the frame so objects never leave for good
            cy, cx = self.centres[i] + t * self.velocity[i]
            cy = height - abs(cy % (2 * height) - height)
            cx = width - abs(cx % (2 * width) - width)
            inside = (((self.yy - cy) / self.radii[i, 0]) ** 2
                      + ((self.xx - cx) / self.radii[i, 1]) ** 2) <= 1
            image[inside] = self.colours[i]
            labels[inside] = i + 1
        return np.clip(image, 0, 255).astype(np.uint8), labels

    def frame(self, t: int) -> np.ndarray:
        return self.render(t)[0]


def build_model(variant: str, checkpoint: str | None, device: str) -> DeAOT:
    """The variant with a checkpoint's weights, or with synthetic ones."""
    if checkpoint:
        return load_model(checkpoint, variant, device)
    model = DeAOT(VARIANTS[variant])
    model.load_state_dict(synthetic_model_state(model, seed=0))
    return model.eval().requires_grad_(False).to(device)


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def run_benchmark(variant: str, height: int, width: int, objects: int, frames: int,
                  device: str = "cpu", checkpoint: str | None = None,
                  max_long_term: int | None = None, long_term_gap: int | None = None,
                  precision: str = "fp32", warmup: int = 2, videos: int = 1) -> dict:
    """Time ``frames`` propagated frames of ``videos`` clips stepped together (one batch);
    returns a dict of the figures (``median_ms`` per step, ``per_video_frame_ms``)."""
    model = build_model(variant, checkpoint, device)
    clips = [SyntheticClip(height, width, objects, seed=i) for i in range(videos)]
    props = [Propagator(model, long_term_gap=long_term_gap, max_long_term=max_long_term,
                        precision=precision) for _ in clips]
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    for prop, clip in zip(props, clips):
        prop.add_reference(clip.frame(0), clip.first_mask)
    times = []
    for t in range(1, frames + 1):
        images = [clip.frame(t) for clip in clips]
        _sync(device)
        start = time.perf_counter()
        for output in step_together(props, images):
            output.labels  # the label map on the host
        _sync(device)
        times.append(time.perf_counter() - start)
        logger.debug("frame %d: %.1f ms", t, 1000 * times[-1])
    measured = times[warmup:] if len(times) > warmup else times
    result = {
        "variant": variant, "size": f"{height}x{width}", "objects": objects, "frames": frames,
        "videos": videos, "device": device, "torch": torch.__version__,
        "threads": torch.get_num_threads(), "precision": props[0].precision,
        "max_long_term": max_long_term,
        "median_ms": 1000 * statistics.median(measured),
        "per_video_frame_ms": 1000 * statistics.median(measured) / videos,
        "first_ms": 1000 * times[0], "last_ms": 1000 * times[-1],
        "long_term_frames": len(props[0].groups[0].long_term),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }
    if device.startswith("cuda"):
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
        result["gpu"] = torch.cuda.get_device_name()
    return result


def _median_ms(fn, device: str, repeats: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


@torch.inference_mode()
def run_local_attention(device: str = "cpu", size: tuple[int, int] = (31, 54),
                        key_dim: int = 128, value_dim: int = 1024) -> dict:
    """Median ms of the dense (official) and tiled 15x15 attention, and their difference."""
    generator = torch.Generator().manual_seed(0)
    length = size[0] * size[1]

    def rand(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=generator).to(device)

    q, k = rand(1, length, key_dim) / key_dim ** 0.5, rand(1, length, key_dim)
    v, bias = rand(1, length, value_dim), rand(1, length, 225)
    dense = dense_window_attention(q, k, v, bias, size)
    tiled = local_window_attention(q, k, v, bias, size)
    return {
        "suite": "local-attention", "device": device, "tokens": f"{size[0]}x{size[1]}",
        "value_dim": value_dim, "threads": torch.get_num_threads(), "torch": torch.__version__,
        "dense_ms": _median_ms(lambda: dense_window_attention(q, k, v, bias, size), device),
        "tiled_ms": _median_ms(lambda: local_window_attention(q, k, v, bias, size), device),
        "max_abs_diff": float((dense - tiled).abs().max()),
    }


def variant_line(result: dict) -> str:
    """A one-line description of a benchmark configuration."""
    videos = f" x{result['videos']} videos" if result.get("videos", 1) > 1 else ""
    return (f"{result['variant']} {result['size']} {result['objects']} obj{videos} "
            f"{result['frames']} frames on {result.get('gpu', result['device'])} "
            f"({result['precision']}, torch {result['torch']})")
