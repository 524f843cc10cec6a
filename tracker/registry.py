"""The weights registry (``checkpoints/registry.json``) and where weight files live."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REGISTRY_FILE = ROOT / "checkpoints" / "registry.json"


def checkpoint_dir() -> Path:
    """Folder of downloaded weights: ``$CLICKTRACK_CHECKPOINTS`` or ``checkpoints/``."""
    return Path(os.environ.get("CLICKTRACK_CHECKPOINTS", ROOT / "checkpoints"))


@dataclass(frozen=True)
class WeightFile:
    """One known weight file.

    Attributes:
        name: registry key, e.g. ``sam_vit_b`` or ``r50_deaotl``.
        kind: ``sam`` or ``deaot``.
        arch: SAM architecture or DeAOT variant.
        file: file name under the checkpoint folder.
        url: official download address.
        size: bytes, if known.
        sha256: hex digest, if known.
        gdrive_id: Google Drive file id, for files hosted there.
        approx_mb: approximate size for display when the exact one is unknown.
        bundled: shipped in the repository (ClickTrack's own default model).
        trained_objects: the most objects a training clip held, where fewer than a DeAOT
            group of 10 (ClickTrack's own model), and so the objects it is given per
            network pass; ``None``: full groups.
    """

    name: str
    kind: str
    arch: str
    file: str
    url: str
    size: int | None = None
    sha256: str | None = None
    gdrive_id: str | None = None
    approx_mb: float | None = None
    bundled: bool = False
    trained_objects: int | None = None

    @property
    def path(self) -> Path:
        """Downloads live in :func:`checkpoint_dir`; a bundled file in the repository."""
        return (ROOT / "checkpoints" if self.bundled else checkpoint_dir()) / self.file

    @property
    def present(self) -> bool:
        return self.path.is_file()


def load_registry(path: Path = REGISTRY_FILE) -> dict[str, WeightFile]:
    """name -> :class:`WeightFile` of every entry."""
    entries = json.loads(path.read_text())
    return {name: WeightFile(name=name, kind=e["kind"], arch=e.get("arch") or e["variant"],
                             file=e["file"], url=e["url"], size=e.get("size"),
                             sha256=e.get("sha256"), gdrive_id=e.get("gdrive_id"),
                             approx_mb=e.get("approx_mb"), bundled=e.get("bundled", False),
                             trained_objects=e.get("trained_objects"))
            for name, e in entries.items()}


class UnknownModelError(ValueError):
    """A model name that is neither a registry entry nor an existing file."""


def resolve_weights(spec: str, kind: str) -> tuple[Path, WeightFile | None]:
    """The file a model spec (registry name or path) refers to.

    Raises:
        UnknownModelError: unknown name, or a name of another kind.
        FileNotFoundError: a known name that is not downloaded, with the command to do it.
    """
    registry = load_registry()
    entry = registry.get(spec) or registry.get(f"sam_{spec}" if kind == "sam" else spec)
    if entry is not None:
        if entry.kind != kind:
            raise UnknownModelError(f"{spec} is a {entry.kind} model, not a {kind} model")
        if not entry.present:
            raise FileNotFoundError(f"{entry.name} is not downloaded; run: "
                                    f"python -m tracker download {entry.name}")
        return entry.path, entry
    path = Path(spec).expanduser()
    if path.is_file():
        return path, None
    names = ", ".join(n for n, e in registry.items() if e.kind == kind)
    raise UnknownModelError(f"unknown {kind} model {spec!r}: give one of {names} or the path "
                            "of a checkpoint file")
