"""Benchmarks of the propagation engine.

    python -m aot.bench --variant r50_deaotl --size 480x854 --objects 2 --frames 50 [--device cuda]
    python -m aot.bench --suite local-attention [--device cuda]

The default suite prints the median time per frame and the peak memory. ``local-attention``
times the 15x15 short-term attention at the token grid of a 480x854 frame (31x54 tokens,
1024-channel values): the official dense formulation against ours.

Frames are a deterministic synthetic scene (textured background, moving ellipses); weights
are the deterministic synthetic ones (:mod:`aot.synthetic`) unless ``--checkpoint`` is given.
The time of a frame covers propagation, decoding, the label map on the host and the memory
update of the previous frame.
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import statistics
import sys
import time

import numpy as np
import torch

from aot.checkpoint import load_model
from aot.config import VARIANTS
from aot.model.deaot import DeAOT
from aot.model.local_attention import dense_window_attention, local_window_attention
from aot.propagator import Propagator
from aot.synthetic import synthetic_model_state

logger = logging.getLogger(__name__)


def synthetic_clip(height: int, width: int, frames: int, objects: int,
                   seed: int = 0) -> tuple[list[np.ndarray], np.ndarray]:
    """Frames (H, W, 3) uint8 of ``objects`` ellipses drifting over a texture, and the
    first frame's (H, W) uint8 label map."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    background = (127 + 60 * np.sin(xx / 17.0)[..., None] * np.cos(yy / 23.0)[..., None]
                  * rng.uniform(0.5, 1.0, size=3)).astype(np.float32)
    centres = rng.uniform(0.2, 0.8, size=(objects, 2)) * (height, width)
    radii = rng.uniform(0.05, 0.15, size=(objects, 2)) * min(height, width)
    velocity = rng.uniform(-2, 2, size=(objects, 2))
    colours = rng.uniform(0, 255, size=(objects, 3))
    clip, first_mask = [], None
    for t in range(frames):
        image = background.copy()
        labels = np.zeros((height, width), np.uint8)
        for i in range(objects):
            cy, cx = centres[i] + t * velocity[i]
            inside = ((yy - cy) / radii[i, 0]) ** 2 + ((xx - cx) / radii[i, 1]) ** 2 <= 1
            image[inside] = colours[i]
            labels[inside] = i + 1
        clip.append(np.clip(image, 0, 255).astype(np.uint8))
        if first_mask is None:
            first_mask = labels
    return clip, first_mask


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
                  warmup: int = 2) -> dict:
    """Time ``frames`` propagated frames; returns a dict of the figures."""
    model = build_model(variant, checkpoint, device)
    clip, mask = synthetic_clip(height, width, frames + 1, objects)
    prop = Propagator(model, long_term_gap=long_term_gap, max_long_term=max_long_term)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    prop.add_reference(clip[0], mask)
    times = []
    for t in range(1, frames + 1):
        _sync(device)
        start = time.perf_counter()
        prop.step(clip[t])
        _sync(device)
        times.append(time.perf_counter() - start)
        logger.debug("frame %d: %.1f ms", t, 1000 * times[-1])
    measured = times[warmup:] if len(times) > warmup else times
    result = {
        "variant": variant, "size": f"{height}x{width}", "objects": objects, "frames": frames,
        "device": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
        "precision": "fp32",
        "median_ms": 1000 * statistics.median(measured),
        "first_ms": 1000 * times[0], "last_ms": 1000 * times[-1],
        "long_term_frames": len(prop.groups[0].long_term),
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


def _size(text: str) -> tuple[int, int]:
    h, _, w = text.lower().partition("x")
    return int(h), int(w)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aot.bench", description=__doc__.split("\n")[0])
    parser.add_argument("--suite", default="propagation",
                        choices=["propagation", "local-attention"])
    parser.add_argument("--variant", default="deaott", choices=sorted(VARIANTS))
    parser.add_argument("--size", type=_size, default=(480, 854), help="HxW, e.g. 480x854")
    parser.add_argument("--objects", type=int, default=2)
    parser.add_argument("--frames", type=int, default=50)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--checkpoint", help="official checkpoint (default: synthetic weights)")
    parser.add_argument("--max-long-term", type=int)
    parser.add_argument("--long-term-gap", type=int)
    parser.add_argument("--threads", type=int, help="torch CPU threads")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.suite == "local-attention":
        result = run_local_attention(args.device)
        print(json.dumps(result) if args.json else
              f"15x15 local attention, {result['tokens']} tokens, {result['value_dim']}-channel "
              f"values on {args.device}: dense (official) {result['dense_ms']:.1f} ms, "
              f"tiled {result['tiled_ms']:.1f} ms, max |diff| {result['max_abs_diff']:.1e}")
        return 0
    result = run_benchmark(args.variant, *args.size, args.objects, args.frames, args.device,
                           args.checkpoint, args.max_long_term, args.long_term_gap)
    if args.json:
        print(json.dumps(result))
    else:
        memory = (f"peak GPU {result['peak_gpu_mib']:.0f} MiB" if "peak_gpu_mib" in result
                  else f"peak RSS {result['peak_rss_mib']:.0f} MiB")
        print(f"{variant_line(result)}: median {result['median_ms']:.1f} ms/frame "
              f"(first {result['first_ms']:.1f}, last {result['last_ms']:.1f}), {memory}, "
              f"long-term memory {result['long_term_frames']} frames")
    return 0


def variant_line(result: dict) -> str:
    """A one-line description of a benchmark configuration."""
    return (f"{result['variant']} {result['size']} {result['objects']} obj "
            f"{result['frames']} frames on {result.get('gpu', result['device'])} "
            f"({result['precision']}, torch {result['torch']})")


if __name__ == "__main__":
    sys.exit(main())
