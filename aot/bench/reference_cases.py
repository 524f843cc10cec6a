"""The official DeAOT reference data (``shared/reference/deaot``): checkpoints and cases.

The data holds, per variant, the official state-dict layout, a deterministic weight recipe
(:mod:`aot.bench.synthetic_weights`) and cases of official outputs on real frames. This
module rebuilds a case's official-format checkpoint and runs the case through
:class:`aot.Propagator` the way the official evaluation loop does, free-running or
teacher-forced, returning the per-frame differences to the official outputs. Tests and
``python -m aot.bench --suite gpu`` use it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from aot.model.deaot import DeAOT
from aot.propagator import Propagator
from aot.bench.synthetic_weights import synthetic_state_dict

ROOT = Path(__file__).resolve().parents[2]


def reference_dir() -> Path:
    """``$CLICKTRACK_REFERENCE``, else ``../shared/reference/deaot`` beside the checkout."""
    return Path(os.environ.get("CLICKTRACK_REFERENCE",
                               ROOT.parent / "shared" / "reference" / "deaot"))


def list_cases(root: Path | None = None) -> list[str]:
    """Names of the cases present (empty if the data is absent)."""
    folder = (root or reference_dir()) / "cases"
    return sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def read_manifest(variant: str, root: Path | None = None) -> list[tuple[str, tuple[int, ...], str]]:
    """[(key, shape, dtype), ...] of a variant's official state dict, in order."""
    layout = []
    path = (root or reference_dir()) / "manifests" / f"{variant}.tsv"
    for line in path.read_text().splitlines():
        key, shape, dtype = line.split("\t")
        layout.append((key, tuple(int(s) for s in shape.split(",")), dtype))
    return layout


def manifest_integers(variant: str, root: Path | None = None) -> dict[str, np.ndarray]:
    """The exact integer buffers of a variant (Swin's relative position indices)."""
    with np.load((root or reference_dir()) / "manifests" / f"{variant}_ints.npz") as data:
        return {k: data[k] for k in data.files}


def weights_digest(state: dict[str, np.ndarray], layout) -> str:
    """SHA-256 over every tensor's bytes in manifest order (the cases' ``weights_sha256``)."""
    digest = hashlib.sha256()
    for key, _, _ in layout:
        digest.update(np.ascontiguousarray(state[key]).tobytes())
    return digest.hexdigest()


@dataclass
class ReferenceCase:
    """One case: ``meta`` from case.json, ``arrays`` from case.npz."""

    name: str
    meta: dict
    arrays: dict[str, np.ndarray]

    @property
    def variant(self) -> str:
        return self.meta["variant"]

    def state_dict(self, root: Path | None = None) -> dict[str, np.ndarray]:
        """The case's synthetic weights, checked against its recorded digest."""
        layout = read_manifest(self.variant, root)
        state = synthetic_state_dict(layout, self.meta["seed"],
                                     manifest_integers(self.variant, root))
        if weights_digest(state, layout) != self.meta["weights_sha256"]:
            raise ValueError(f"{self.name}: the weight recipe does not reproduce the case's "
                             "weights")
        return state

    def write_checkpoint(self, path: Path, root: Path | None = None) -> Path:
        """The case's weights in the official release format, with its key prefix."""
        prefix = self.meta["key_prefix"]
        torch.save({"state_dict": {prefix + k: torch.from_numpy(np.array(v))
                                   for k, v in self.state_dict(root).items()}}, path)
        return path


def load_case(name: str, root: Path | None = None) -> ReferenceCase:
    folder = (root or reference_dir()) / "cases" / name
    meta = json.loads((folder / "case.json").read_text())
    with np.load(folder / "case.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return ReferenceCase(name, meta, arrays)


@dataclass
class CaseRun:
    """Per propagated frame: max |probs - official|, label agreement with the official
    labels, our labels, and the long-term memory size (tokens) after the frame."""

    prob_errors: list[float] = field(default_factory=list)
    label_agreement: list[float] = field(default_factory=list)
    labels: list[np.ndarray] = field(default_factory=list)
    long_term_tokens: list[int] = field(default_factory=list)


@torch.inference_mode()
def run_case(model: DeAOT, case: ReferenceCase, precision: str = "fp32",
             teacher_forced: bool = False) -> CaseRun:
    """Run a case through :class:`Propagator`.

    Args:
        model: the case's variant with its weights.
        case: the case.
        precision: the propagator's precision.
        teacher_forced: feed the official labels (not ours) to the memory, which keeps a
            flipped near-tie pixel from being fed back into later frames.
    """
    arrays, meta = case.arrays, case.meta
    frames, stride = arrays["frames"], meta["probs_stride"]
    events = {e["frame"]: arrays[e["mask"]] for e in meta["events"]}
    prop = Propagator(model, long_term_gap=meta["long_term_mem_gap"], precision=precision)
    prop.add_reference(frames[0], arrays["mask_0"])
    h16, w16 = meta["encoder_feature_size"]
    run = CaseRun()
    for t in range(1, len(frames)):
        out = prop.step(frames[t])
        official = arrays["probs"][t - 1].astype(np.float32)
        probs = out.probs.numpy()[:, ::stride, ::stride]
        error = float(np.abs(probs - official[:probs.shape[0]]).max())
        if official.shape[0] > probs.shape[0]:  # ids beyond N: near 0 officially
            error = max(error, float(official[probs.shape[0]:].max()))
        labels = out.labels.copy()
        fed = arrays["labels"][t - 1] if teacher_forced else labels
        if t in events:
            fed = np.where(events[t] != 0, events[t], fed).astype(np.uint8)
            labels = np.where(events[t] != 0, events[t], labels).astype(np.uint8)
            prop.add_reference(frames[t], fed)
        elif teacher_forced:
            prop.set_pending_labels(fed)
        prop.flush()
        run.prob_errors.append(error)
        run.label_agreement.append(float((labels == arrays["labels"][t - 1]).mean()))
        run.labels.append(labels)
        run.long_term_tokens.append(len(prop.groups[0].long_term) * h16 * w16)
    return run
