"""Downloading weight files: progress bar, resume, verification, atomic placement.

Plain HTTP(S) downloads resume with a Range request from the ``.part`` file a broken
transfer left behind; Google Drive files go through gdown. A file is moved into place only
after its size and SHA-256 (where the registry knows them) match; checkpoints without a
published hash are checked key by key instead (DeAOT: the loader's key and shape check; SAM:
against segment-anything's model of that architecture; SAM 2.1: against sam2's). A model
that is a folder of files (the text detector: config, weights, tokenizer) is fetched file by
file into ``<folder>.part/`` and moved into place whole once every file checks out; weights
without a published hash are checked by loading them through ``transformers``.

One file is fetched by one thread of one process at a time: a process-wide lock per file,
and an ``fcntl`` lock on ``.<file>.lock`` beside it across processes. Whoever waited finds
the file in place and returns it.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

from tqdm import tqdm

from tracker.registry import FolderFile, WeightFile

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
_TIMEOUT_S = 60

#: ``on_progress(bytes so far, bytes in all or None)``, called as a transfer goes on.
ProgressCallback = Callable[[int, int | None], None]

_LOCKS_GUARD = threading.Lock()
_LOCKS: dict[Path, threading.Lock] = {}  # destination -> the lock of its download


class DownloadError(RuntimeError):
    """A download that failed or did not verify; nothing is left at the destination."""


class NoNetworkError(DownloadError):
    """The server could not be reached at all (no network, unknown host, connection refused
    or timed out); nothing was fetched."""


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify(entry: WeightFile, path: Path) -> None:
    """Raise :class:`DownloadError` unless ``path`` is ``entry``'s file (or folder)."""
    if entry.files:
        _verify_folder(entry, path)
        return
    size = path.stat().st_size
    if entry.size is not None and size != entry.size:
        raise DownloadError(f"{entry.name}: got {size} bytes, expected {entry.size}")
    if entry.sha256 is not None:
        digest = sha256_of(path)
        if digest != entry.sha256:
            raise DownloadError(f"{entry.name}: SHA-256 {digest} does not match the "
                                f"registry's {entry.sha256}")
    elif entry.kind == "deaot":
        from aot import CheckpointError, load_model

        try:
            load_model(path, variant=entry.arch)
        except CheckpointError as error:
            raise DownloadError(f"{entry.name}: the download is no {entry.arch} checkpoint "
                                f"({error})") from error
    elif entry.kind == "sam" and entry.arch.startswith("sam2"):
        from tracker.sam2_segmenter import Sam2CheckpointError, load_sam2

        try:
            load_sam2(path, entry.arch)
        except (Sam2CheckpointError, ImportError) as error:
            raise DownloadError(f"{entry.name}: the download is no {entry.arch} checkpoint "
                                f"({error})") from error
    elif entry.kind == "sam":
        from tracker.sam import SamCheckpointError, check_sam_layout, read_sam_state

        try:
            check_sam_layout(read_sam_state(path, entry.arch)[0], entry.arch, path.name)
        except SamCheckpointError as error:
            raise DownloadError(f"{entry.name}: the download is no SAM {entry.arch} "
                                f"checkpoint ({error})") from error


def _verify_part(entry: WeightFile, part: FolderFile, path: Path) -> None:
    """Raise :class:`DownloadError` unless ``path`` has ``part``'s size and SHA-256 (where
    the registry knows them)."""
    if part.size is not None and path.stat().st_size != part.size:
        raise DownloadError(f"{entry.name}/{part.name}: got {path.stat().st_size} bytes, "
                            f"expected {part.size}")
    if part.sha256 is not None and (digest := sha256_of(path)) != part.sha256:
        raise DownloadError(f"{entry.name}/{part.name}: SHA-256 {digest} does not match the "
                            f"registry's {part.sha256}")


def _verify_folder(entry: WeightFile, folder: Path) -> None:
    """Every file of a folder model in place and as the registry has it; weights without a
    published hash must load (a detector: through ``transformers``)."""
    for part in entry.files:
        if not (folder / part.name).is_file():
            raise DownloadError(f"{entry.name}: {part.name} is missing from {folder}")
        _verify_part(entry, part, folder / part.name)
    unhashed = [p for p in entry.files if p.sha256 is None and p.name.endswith(".safetensors")]
    if unhashed and entry.kind == "detector":
        from tracker.text_detector import DetectorError, check_detector_folder

        try:
            check_detector_folder(folder)
        except DetectorError as error:
            raise DownloadError(f"{entry.name}: the download is no usable detector "
                                f"({error})") from error


@contextlib.contextmanager
def exclusive(destination: Path) -> Iterator[None]:
    """Hold the right to fetch ``destination``: one thread of this process (a process-wide
    lock per file) and one process of the machine (an ``fcntl`` lock on ``.<file>.lock``
    beside it, which the kernel releases should the process die) at a time."""
    with _LOCKS_GUARD:
        lock = _LOCKS.setdefault(destination.resolve(), threading.Lock())
    if not lock.acquire(blocking=False):
        logger.info("waiting for the download of %s that another session started",
                    destination.name)
        lock.acquire()
    try:
        lock_path = destination.with_name(f".{destination.name}.lock")
        descriptor = _lock_file(lock_path, destination.name)
        try:
            yield
        finally:
            try:  # while still held: a waiter finds it gone and starts over
                lock_path.unlink(missing_ok=True)
            finally:
                os.close(descriptor)
    finally:
        lock.release()


def _lock_file(path: Path, what: str) -> int:
    """An open descriptor of ``path`` holding its ``fcntl`` lock (waiting for the process
    that holds it), taken on the file that is at ``path`` once the lock is held."""
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                logger.info("waiting for the download of %s that another process started",
                            what)
                fcntl.flock(descriptor, fcntl.LOCK_EX)
            held = os.fstat(descriptor)
            with contextlib.suppress(FileNotFoundError):
                current = os.stat(path)
                if (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
                    return descriptor
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)  # the holder removed that file when it finished: start over


def _fetch_http(url: str, part: Path, total: int | None, show_progress: bool,
                on_progress: ProgressCallback | None) -> None:
    done = part.stat().st_size if part.exists() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "ClickTrack"})
    if done:
        request.add_header("Range", f"bytes={done}-")
    try:
        response = urllib.request.urlopen(request, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and done:  # the part file is already complete
            return
        raise DownloadError(f"{url}: HTTP {error.code} {error.reason}") from error
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        if isinstance(reason, ssl.SSLError):  # reached, but not to be trusted
            raise DownloadError(f"{url}: {reason}") from error
        raise NoNetworkError(f"{url}: {reason}") from error
    with response:
        resumed = done and response.status == 206
        if done and not resumed:
            logger.info("server ignored the range request; downloading %s from the start", url)
            done = 0
        length = response.headers.get("Content-Length")
        expected = total or (done + int(length) if length else None)
        broke_off = (f"{url}: the transfer broke off after {{}} bytes; the bytes are kept "
                     "and the next try resumes from there")
        with part.open("ab" if resumed else "wb") as stream, tqdm(
                total=expected, initial=done, unit="B", unit_scale=True, unit_divisor=1024,
                desc=part.name.removesuffix(".part"), disable=not show_progress) as bar:
            if on_progress is not None:
                on_progress(done, expected)
            try:
                while chunk := response.read(_CHUNK):
                    stream.write(chunk)
                    done += len(chunk)
                    bar.update(len(chunk))
                    if on_progress is not None:
                        on_progress(done, expected)
            except (OSError, urllib.error.URLError) as error:
                raise DownloadError(broke_off.format(done)) from error
            if expected is not None and done < expected:  # the server closed early
                raise DownloadError(broke_off.format(done))


def _fetch_gdrive(entry: WeightFile, part: Path, show_progress: bool,
                  on_progress: ProgressCallback | None) -> None:
    import gdown
    import requests

    try:
        output = gdown.download(id=entry.gdrive_id, output=str(part), quiet=not show_progress,
                                resume=True, progress=on_progress, timeout=_TIMEOUT_S)
    except (requests.ConnectionError, requests.Timeout) as error:
        raise NoNetworkError(f"{entry.name}: Google Drive cannot be reached ({error})") from error
    except gdown.DownloadError as error:
        raise DownloadError(f"{entry.name}: {error}") from error
    if output is None:
        raise DownloadError(f"{entry.name}: Google Drive refused the download (quota or "
                            f"permissions); fetch {entry.url} by hand into {part.parent}")


def download(entry: WeightFile, dest_dir: Path | None = None, show_progress: bool = True,
             url: str | None = None, on_progress: ProgressCallback | None = None) -> Path:
    """Fetch ``entry`` into ``dest_dir`` (default: the checkpoint folder) and verify it; one
    caller at a time per file (see :func:`exclusive`).

    Args:
        entry: the registry entry.
        dest_dir: destination folder.
        show_progress: draw a progress bar on stderr.
        url: override of the entry's address (mirrors, tests).
        on_progress: called with (bytes so far, bytes in all or ``None``) as it goes.

    Returns:
        the verified file. An existing verified file is kept as is.

    Raises:
        NoNetworkError: the server could not be reached.
        DownloadError: any other failure, or a file that does not verify.
    """
    dest_dir = Path(dest_dir) if dest_dir is not None else entry.path.parent
    dest_dir.mkdir(parents=True, exist_ok=True)
    destination = dest_dir / entry.file
    with exclusive(destination):
        if entry.files:
            return _download_folder(entry, destination, show_progress, url, on_progress)
        return _download(entry, destination, show_progress, url, on_progress)


def _check_present(entry: WeightFile, destination: Path) -> Path:
    """``destination``, already in place, once it verifies as ``entry``'s model."""
    try:
        verify(entry, destination)
    except DownloadError as error:
        raise DownloadError(f"{destination} exists but does not verify ({error}); delete it "
                            "and run the command again") from error
    logger.info("%s is already present", destination)
    return destination


def _download(entry: WeightFile, destination: Path, show_progress: bool, url: str | None,
              on_progress: ProgressCallback | None) -> Path:
    if destination.is_file():
        return _check_present(entry, destination)
    part = destination.with_name(destination.name + ".part")
    if entry.gdrive_id and url is None:
        _fetch_gdrive(entry, part, show_progress, on_progress)
    else:
        _fetch_http(url or entry.url, part, entry.size, show_progress, on_progress)
    try:
        verify(entry, part)
    except DownloadError:
        part.unlink(missing_ok=True)
        raise
    os.replace(part, destination)
    logger.info("saved %s", destination)
    return destination


def _download_folder(entry: WeightFile, destination: Path, show_progress: bool,
                     url: str | None, on_progress: ProgressCallback | None) -> Path:
    """Fetch a folder model file by file into ``<folder>.part/`` (files finished by an
    earlier try are kept, a broken one resumes) and move it into place once it verifies."""
    if destination.is_dir() and entry.present:
        return _check_present(entry, destination)
    staging = destination.with_name(destination.name + ".part")
    staging.mkdir(exist_ok=True)
    base = (url or entry.url).rstrip("/")
    for part in entry.files:
        target = staging / part.name
        if target.is_file():  # fetched and checked by an earlier try
            continue
        partial = staging / f"{part.name}.part"
        _fetch_http(f"{base}/{part.name}", partial, part.size, show_progress, on_progress)
        try:
            _verify_part(entry, part, partial)
        except DownloadError:
            partial.unlink(missing_ok=True)
            raise
        os.replace(partial, target)
    try:
        verify(entry, staging)
    except DownloadError:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if destination.is_dir():  # an incomplete folder left by hand: the verified one replaces it
        shutil.rmtree(destination)
    os.replace(staging, destination)
    logger.info("saved %s", destination)
    return destination
