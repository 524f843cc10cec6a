"""Access to the official DeAOT reference cases in ``../shared/reference/deaot``."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from aot.synthetic import synthetic_state_dict

REFERENCE_DIR = Path(os.environ.get(
    "CLICKTRACK_REFERENCE", Path(__file__).resolve().parents[2] / "shared" / "reference" / "deaot"))
CASES = sorted(p.name for p in (REFERENCE_DIR / "cases").glob("*") if p.is_dir()) \
    if (REFERENCE_DIR / "cases").is_dir() else []


def read_manifest(variant: str) -> list[tuple[str, tuple[int, ...], str]]:
    """[(key, shape, dtype), ...] of a variant's official state dict, in order."""
    layout = []
    for line in (REFERENCE_DIR / "manifests" / f"{variant}.tsv").read_text().splitlines():
        key, shape, dtype = line.split("\t")
        layout.append((key, tuple(int(s) for s in shape.split(",")), dtype))
    return layout


def manifest_integers(variant: str) -> dict[str, np.ndarray]:
    with np.load(REFERENCE_DIR / "manifests" / f"{variant}_ints.npz") as data:
        return {k: data[k] for k in data.files}


def weights_digest(state: dict[str, np.ndarray], layout) -> str:
    """SHA-256 over every tensor's bytes in manifest order (the cases' ``weights_sha256``)."""
    digest = hashlib.sha256()
    for key, _, _ in layout:
        digest.update(np.ascontiguousarray(state[key]).tobytes())
    return digest.hexdigest()


@dataclass
class ReferenceCase:
    name: str
    meta: dict
    arrays: dict[str, np.ndarray]

    @property
    def variant(self) -> str:
        return self.meta["variant"]


def load_case(name: str) -> ReferenceCase:
    folder = REFERENCE_DIR / "cases" / name
    meta = json.loads((folder / "case.json").read_text())
    with np.load(folder / "case.npz") as data:
        arrays = {k: data[k] for k in data.files}
    return ReferenceCase(name, meta, arrays)


def write_case_checkpoint(case: ReferenceCase, path: Path) -> Path:
    """Write the case's synthetic checkpoint in the official release format."""
    layout = read_manifest(case.variant)
    state = synthetic_state_dict(layout, case.meta["seed"], manifest_integers(case.variant))
    assert weights_digest(state, layout) == case.meta["weights_sha256"], "weight recipe drifted"
    prefix = case.meta["key_prefix"]
    torch.save({"state_dict": {prefix + k: torch.from_numpy(np.array(v)) for k, v in state.items()}},
               path)
    return path
