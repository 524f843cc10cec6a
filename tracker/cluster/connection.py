"""The Ray runtime of a cluster run: importing Ray (or saying how to install it) and
connecting to a local, ``auto`` or addressed runtime for the run, and disconnecting after.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from tracker.cluster.config import ClusterConfig, ClusterSetupError

#: The object store of a runtime started with ``--ray local``: results are a few hundred
#: bytes, so a small store keeps a local runtime light.
LOCAL_OBJECT_STORE_BYTES = 256 * 2 ** 20
INSTALL_HINT = ("pip install 'clicktrack[cluster]' (or pip install -r requirements-cluster.txt) "
                "on the driver and on every node")


def import_ray() -> Any:
    """The ``ray`` module, or :class:`ClusterSetupError` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ClusterSetupError(f"Ray is not installed ({error}): {INSTALL_HINT}") from None
    return ray


@contextlib.contextmanager
def connected(ray: Any, config: ClusterConfig) -> Iterator[None]:
    """Ray connected for the block: an existing connection as it is, else ``ray.init`` for
    ``config.address`` (shut down again afterwards)."""
    if ray.is_initialized():
        yield
        return
    options: dict[str, Any] = {}
    if config.address == "local":
        options = {"num_cpus": config.local_cpus, "include_dashboard": False,
                   "object_store_memory": LOCAL_OBJECT_STORE_BYTES}
    main = threading.current_thread() is threading.main_thread()
    sigterm = signal.getsignal(signal.SIGTERM) if main else None
    try:
        ray.init(address=config.address, **options)
    except (ConnectionError, RuntimeError, ValueError) as error:
        where = f"at {config.address}" if config.address else "(no address given)"
        raise ClusterSetupError(f"cannot start or reach a Ray cluster {where}: {error}") \
            from None
    finally:
        if main:  # ray.init makes SIGTERM exit at once; keep it a Ctrl-C (tracker.interrupts)
            signal.signal(signal.SIGTERM, sigterm)
    try:
        yield
    finally:
        ray.shutdown()
