"""``python -m aot.bench --suite gpu``: correctness and every timing on one GPU, in one call.

1. Correctness, with TF32 off: every reference case in fp32 against the official outputs
   (tolerances of the reference data), and the fast paths' labels against fp32.
2. Timings at 480x854 with synthetic weights: R50-DeAOT-L in fp32, fp16 and bf16 over 300
   frames, DeAOT-T and SwinB-DeAOT-L in fp16, 30 objects, the bounded memory over 3000
   frames, four videos stepped as one batch (fp16, 100 frames), the 15x15 local attention,
   and SAM ViT-H's image encoder in fp32 and bf16.

Results go to ``results.json`` in ``--out`` (default ``$OUT``). ``--quick`` shrinks every run
to a smoke test, which also runs on the CPU.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from aot.bench import SyntheticClip, build_model, run_benchmark, run_local_attention
from aot.checkpoint import load_model
from aot.propagator import Propagator
from aot.bench.reference_cases import list_cases, load_case, run_case

logger = logging.getLogger(__name__)

FAST_PRECISIONS = ("fp16", "bf16", "bf16-attention")


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _correctness(device: str, quick: bool, scratch: Path) -> dict:
    cases = list_cases()[:1] if quick else list_cases()
    report: dict = {}
    for name in cases:
        case = load_case(name)
        model = load_model(case.write_checkpoint(scratch / f"{name}.pth"), device=device)
        exact = run_case(model, case)
        entry = {"max_abs_prob_diff": max(exact.prob_errors),
                 "label_agreement": float(np.mean(exact.label_agreement)),
                 "tolerances": case.meta["tolerances"]}
        entry["within_tolerance"] = (
            entry["max_abs_prob_diff"] <= entry["tolerances"]["probs_max_abs"]
            and entry["label_agreement"] >= entry["tolerances"]["labels_min_agreement"])
        reference_labels = np.stack(exact.labels)
        for precision in FAST_PRECISIONS[:1] if quick else FAST_PRECISIONS:
            fast = np.stack(run_case(model, case, precision=precision).labels)
            entry[f"{precision}_agreement_with_fp32"] = float((fast == reference_labels).mean())
        report[name] = entry
        logger.info("%s: %s", name, entry)
    return report


def _time_propagation(variant: str, device: str, precision: str, frames: int,
                      size: tuple[int, int], objects: int = 2,
                      max_long_term: int | None = None, windows: tuple = ()) -> dict:
    model = build_model(variant, None, device)
    clip = SyntheticClip(*size, objects)
    cycle = [clip.frame(t) for t in range(min(frames + 1, 120))]
    prop = Propagator(model, max_long_term=max_long_term, precision=precision)
    prop.add_reference(cycle[0], clip.first_mask)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    times, allocated = [], []
    for t in range(1, frames + 1):
        image = cycle[t % len(cycle)]
        _sync(device)
        start = time.perf_counter()
        prop.step(image).labels
        _sync(device)
        times.append(1000 * (time.perf_counter() - start))
        if device.startswith("cuda"):
            allocated.append(torch.cuda.memory_allocated() / 2 ** 20)
    result = {"variant": variant, "precision": prop.precision, "size": f"{size[0]}x{size[1]}",
              "objects": objects, "frames": frames, "max_long_term": max_long_term,
              "median_ms": statistics.median(times[2:] or times),
              "long_term_frames": len(prop.groups[0].long_term)}
    for first, last in windows:
        result[f"median_ms_frames_{first}_{last}"] = statistics.median(times[first - 1:last])
        if allocated:
            result[f"allocated_mib_frame_{last}"] = allocated[last - 1]
    if device.startswith("cuda"):
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated() / 2 ** 20
    logger.info("%s", result)
    return result


def _time_sam(device: str) -> dict:
    from segment_anything import sam_model_registry

    encoder = sam_model_registry["vit_h"](checkpoint=None).image_encoder.to(device).eval()
    image = torch.randn(1, 3, 1024, 1024, device=device)
    result = {}
    for name, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        with torch.inference_mode(), torch.autocast("cuda", dtype=dtype or torch.float32,
                                                    enabled=dtype is not None):
            encoder(image)
            times = []
            for _ in range(5):
                _sync(device)
                start = time.perf_counter()
                encoder(image)
                _sync(device)
                times.append(1000 * (time.perf_counter() - start))
        result[f"vit_h_encoder_{name}_ms"] = statistics.median(times)
    return result


def run_gpu_suite(device: str = "cuda", out: str | None = None, quick: bool = False) -> dict:
    """Run everything; returns (and writes) the results."""
    out_dir = Path(out or os.environ.get("OUT", "."))
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = out_dir / ".scratch"
    scratch.mkdir(exist_ok=True)
    if device.startswith("cuda"):
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    began = time.perf_counter()
    results: dict = {"env": {"device": device, "torch": torch.__version__,
                             "gpu": torch.cuda.get_device_name() if device.startswith("cuda")
                             else None}}
    results["correctness"] = _correctness(device, quick, scratch)
    size = (128, 224) if quick else (480, 854)
    n = 4 if quick else 300
    timings = []
    for variant, precision in (("r50_deaotl", "fp32"), ("r50_deaotl", "fp16"),
                               ("r50_deaotl", "bf16"), ("deaott", "fp32"), ("deaott", "fp16"),
                               ("swinb_deaotl", "fp16")):
        if quick and variant == "swinb_deaotl":
            continue
        timings.append(_time_propagation(variant, device, precision, n, size,
                                         windows=((1, n),) if quick else ((1, 50), (251, 300))))
    timings.append(_time_propagation("r50_deaotl", device, "fp16", 4 if quick else 100, size,
                                     objects=30))
    batched = run_benchmark("r50_deaotl", *size, 2, 4 if quick else 100, device,
                            precision="fp16", videos=4)
    logger.info("%s", batched)
    timings.append({k: batched[k] for k in ("variant", "precision", "size", "objects", "frames",
                                            "videos", "max_long_term", "median_ms",
                                            "per_video_frame_ms")})
    long_run = 6 if quick else 3000
    timings.append(_time_propagation(
        "r50_deaotl", device, "fp16", long_run, size, max_long_term=10,
        windows=((2, 4),) if quick else ((41, 60), (2901, 3000))))
    results["timings"] = timings
    results["local_attention"] = run_local_attention(device)
    if device.startswith("cuda") and not quick:
        results["sam"] = _time_sam(device)
    correct = all(c["within_tolerance"] for c in results["correctness"].values())
    fast_ok = all(c.get("fp16_agreement_with_fp32", 1.0) >= 0.99
                  for c in results["correctness"].values())
    results["summary"] = {"correct": correct, "fp16_labels_agree_99": fast_ok,
                          "seconds": time.perf_counter() - began,
                          "median_ms": {f"{t['variant']} {t['precision']} {t['objects']}obj"
                                        + (f" bound{t['max_long_term']}" if t["max_long_term"]
                                           else "")
                                        + (f" x{t['videos']} videos" if t.get("videos") else ""):
                                        round(t["median_ms"], 2) for t in timings}}
    for path in scratch.iterdir():
        path.unlink()
    scratch.rmdir()
    (out_dir / "results.json").write_text(json.dumps(results, indent=1))
    return results
