"""The weights registry and where weight files live.

The registry (``tracker/weights/registry.json``) and the bundled model beside it are package
data: they ship inside the wheel and are found there. Downloads go elsewhere, never into the
installed package: ``$CLICKTRACK_CHECKPOINTS`` if set; else ``checkpoints/`` in a source
checkout; else the user's cache (``$XDG_CACHE_HOME/clicktrack/checkpoints``, by default
``~/.cache/clicktrack/checkpoints``).

``$CLICKTRACK_REGISTRY`` names another registry file of the same format to use instead, e.g.
one whose ``url`` fields point at a private mirror (or, in the tests, at a local server). Its
entries replace the package's; the bundled model is listed either way.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

PACKAGE_WEIGHTS = Path(__file__).resolve().parent / "weights"
REGISTRY_FILE = PACKAGE_WEIGHTS / "registry.json"
_CHECKOUT = Path(__file__).resolve().parents[1]


def checkpoint_dir() -> Path:
    """Folder of downloaded weights (see the module's docstring for the order)."""
    configured = os.environ.get("CLICKTRACK_CHECKPOINTS")
    if configured:
        return Path(configured).expanduser()
    if (_CHECKOUT / "pyproject.toml").is_file() and (_CHECKOUT / "checkpoints").is_dir():
        return _CHECKOUT / "checkpoints"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "clicktrack" / "checkpoints"


@dataclass(frozen=True)
class FolderFile:
    """One file of a model that is a folder of files (a Hugging Face model: its config,
    weights and tokenizer), with its size and SHA-256 where known."""

    name: str
    size: int | None = None
    sha256: str | None = None


@dataclass(frozen=True)
class WeightFile:
    """One known weight file, or folder of files.

    Attributes:
        name: registry key, e.g. ``sam_vit_b``, ``sam2.1_hiera_small``, ``r50_deaotl`` or
            ``grounding_dino_tiny``.
        kind: ``sam`` (a click segmenter: Segment Anything or SAM 2.1), ``deaot`` or
            ``detector`` (a text-prompt detector).
        arch: SAM architecture (``vit_b`` ..., ``sam2.1_hiera_tiny`` ...), DeAOT variant or
            detector architecture.
        file: file name under the checkpoint folder (the folder's name, for a model of
            several ``files``).
        url: official download address (the address the ``files`` lie under, for a folder).
        size: bytes, if known.
        sha256: hex digest, if known.
        gdrive_id: Google Drive file id, for files hosted there.
        approx_mb: approximate size for display when the exact one is unknown.
        bundled: shipped in the repository (ClickTrack's own default model).
        trained_objects: the most objects a training clip held, where fewer than a DeAOT
            group of 10 (ClickTrack's own model), and so the objects it is given per
            network pass; ``None``: full groups.
        files: the files of a model that is a folder, each fetched from ``url/<name>``;
            empty for a one-file model.
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
    files: tuple[FolderFile, ...] = ()

    @property
    def path(self) -> Path:
        """Downloads live in :func:`checkpoint_dir`; a bundled file in the package."""
        return (PACKAGE_WEIGHTS if self.bundled else checkpoint_dir()) / self.file

    @property
    def present(self) -> bool:
        """The file is in place; for a folder model, every one of its files."""
        if self.files:
            return all((self.path / part.name).is_file() for part in self.files)
        return self.path.is_file()


def _read_registry(path: Path) -> dict[str, WeightFile]:
    entries = json.loads(path.read_text())
    return {name: WeightFile(name=name, kind=e["kind"], arch=e.get("arch") or e["variant"],
                             file=e["file"], url=e["url"], size=e.get("size"),
                             sha256=e.get("sha256"), gdrive_id=e.get("gdrive_id"),
                             approx_mb=e.get("approx_mb"), bundled=e.get("bundled", False),
                             trained_objects=e.get("trained_objects"),
                             files=tuple(FolderFile(part, info.get("size"), info.get("sha256"))
                                         for part, info in e.get("files", {}).items()))
            for name, e in entries.items()}


def load_registry(path: Path | None = None) -> dict[str, WeightFile]:
    """name -> :class:`WeightFile` of every entry of ``path`` (default:
    ``$CLICKTRACK_REGISTRY``, else the package's registry), the bundled model included."""
    path = path or Path(os.environ.get("CLICKTRACK_REGISTRY") or REGISTRY_FILE).expanduser()
    entries = _read_registry(path)
    if path == REGISTRY_FILE:
        return entries
    bundled = {n: e for n, e in _read_registry(REGISTRY_FILE).items() if e.bundled}
    return {**bundled, **entries}


class UnknownModelError(ValueError):
    """A model name that is neither a registry entry nor an existing file."""


def find_entry(spec: str, kind: str) -> WeightFile | None:
    """The registry entry a model spec names (``vit_b`` for ``sam_vit_b`` too), ``None``
    when it names none (a path, say).

    Raises:
        UnknownModelError: the name of a model of another kind.
    """
    registry = load_registry()
    entry = registry.get(spec) or registry.get(f"sam_{spec}" if kind == "sam" else spec)
    if entry is not None and entry.kind != kind:
        raise UnknownModelError(f"{spec} is a {entry.kind} model, not a {kind} model")
    return entry


def resolve_weights(spec: str, kind: str) -> tuple[Path, WeightFile | None]:
    """The file a model spec (registry name or path) refers to.

    Raises:
        UnknownModelError: unknown name, or a name of another kind.
        FileNotFoundError: a known name that is not downloaded, with the command to do it.
    """
    entry = find_entry(spec, kind)
    if entry is not None:
        if not entry.present:
            raise FileNotFoundError(f"{entry.name} is not downloaded; run: "
                                    f"python -m tracker download {entry.name}")
        return entry.path, entry
    path = Path(spec).expanduser()
    if path.is_dir() if kind == "detector" else path.is_file():  # a detector is a folder
        return path, None
    names = ", ".join(n for n, e in load_registry().items() if e.kind == kind)
    raise UnknownModelError(f"unknown {kind} model {spec!r}: give one of {names} or the path "
                            "of a checkpoint file")
