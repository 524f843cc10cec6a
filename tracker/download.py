"""Downloading weight files: progress bar, resume, verification, atomic placement.

Plain HTTP(S) downloads resume with a Range request from the ``.part`` file a broken
transfer left behind; Google Drive files go through gdown. A file is moved into place only
after its size and SHA-256 (where the registry knows them) match; DeAOT checkpoints without a
published hash are checked by loading their layout instead.
"""

from __future__ import annotations

import hashlib
import logging
import os
import urllib.error
import urllib.request
from pathlib import Path

from tqdm import tqdm

from tracker.registry import WeightFile

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


class DownloadError(RuntimeError):
    """A download that failed or did not verify; nothing is left at the destination."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(entry: WeightFile, path: Path) -> None:
    """Raise :class:`DownloadError` unless ``path`` is ``entry``'s file."""
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        raise DownloadError(f"{entry.name}: got {size} bytes, expected {entry.size}")
    if entry.sha256 is not None:
        digest = sha256_of(path)
        if digest != entry.sha256:
            raise DownloadError(f"{entry.name}: SHA-256 {digest} does not match the "
                                f"registry's {entry.sha256}")
    elif entry.kind == "deaot":
        from aot import CheckpointError, infer_variant, read_state_dict

        try:
            found = infer_variant(read_state_dict(path), entry.file)
        except CheckpointError as error:
            raise DownloadError(f"{entry.name}: the download is no DeAOT checkpoint "
                                f"({error})") from error
        if found != entry.arch and {found, entry.arch} != {"deaotb", "deaotl"}:
            raise DownloadError(f"{entry.name}: the download is a {found} checkpoint")


def _fetch_http(url: str, part: Path, total: int | None, show_progress: bool) -> None:
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ClickTrack"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        response = urllib.request.urlopen(request, timeout=60)
    except urllib.error.HTTPError as error:
        if error.code == 416 and done:  # the part file is already complete
            return
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        raise DownloadError(f"{url}: {getattr(error, 'reason', error)}") from error
    with response:
        resumed = done and response.status == 206
        if done and not resumed:
            logger.info("server ignored the range request; downloading %s from the start", url)
            done = 0
        length = response.headers.get("Content-Length")
        expected = total or (done + int(length) if length else None)
        with part.open("ab" if resumed else "wb") as stream, tqdm(
                total=expected, initial=done, unit="B", unit_scale=True, unit_divisor=1024,
                desc=part.name.removesuffix(".part"), disable=not show_progress) as bar:
            try:
                while chunk := response.read(_CHUNK):
                    stream.write(chunk)
                    bar.update(len(chunk))
            except (OSError, urllib.error.URLError) as error:
                raise DownloadError(f"{url}: transfer broke off after {bar.n} bytes; run the "
                                    "command again to resume") from error


def download(entry: WeightFile, dest_dir: Path | None = None, show_progress: bool = True,
             url: str | None = None) -> Path:
    """Fetch ``entry`` into ``dest_dir`` (default: the checkpoint folder) and verify it.

    Args:
        entry: the registry entry.
        dest_dir: destination folder.
        show_progress: draw a progress bar on stderr.
        url: override of the entry's address (mirrors, tests).

    Returns:
        the verified file. An existing verified file is kept as is.
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else entry.path.parent
    dest_dir.mkdir(parents=True, exist_ok=True)
    destination = dest_dir / entry.file
    if destination.is_file():
        try:
            verify(entry, destination)
        except DownloadError as error:
            raise DownloadError(f"{destination} exists but does not verify ({error}); delete "
                                "it and run the command again") from error
        logger.info("%s is already present", destination)
        return destination
    part = destination.with_name(destination.name + ".part")
    if entry.gdrive_id and url is None:
        import gdown

        output = gdown.download(id=entry.gdrive_id, output=str(part), quiet=not show_progress,
                                resume=True)
        if output is None:
            raise DownloadError(f"{entry.name}: Google Drive refused the download (quota or "
                                f"permissions); fetch {entry.url} by hand into {dest_dir}")
    else:
        _fetch_http(url or entry.url, part, entry.size, show_progress)
    try:
        verify(entry, part)
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, destination)
    logger.info("saved %s", destination)
    return destination
