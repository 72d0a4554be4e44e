"""What a Lambda container keeps between invocations, registered in one place where it is defined.

Clients, settings and small caches live as long as the container. `reset()` forgets all of it, as a new
container would (the tests and the local stack use it between runs). `after_restore()` drops only what must
not outlive a SnapStart snapshot, which many execution environments resume from: open connections (HTTP and
AWS clients, made again on first use) and the random generator's state, which every copy would share.
"""

import os
import random
from collections.abc import Callable
from typing import Protocol


class Clearable(Protocol):
    """A cache that can be emptied, as functools' caches can."""

    def cache_clear(self) -> None:
        """Forget every cached value."""


_state: list[Callable[[], None]] = []
_connections: list[Callable[[], None]] = []


def per_container[CacheT: Clearable](cache: CacheT) -> CacheT:
    """Register a cache of the container's lifetime (settings, parsed configuration): forgotten by reset()."""
    _state.append(cache.cache_clear)
    return cache


def holds_connections[CacheT: Clearable](cache: CacheT) -> CacheT:
    """Register a cache of clients with open connections: forgotten by reset() and after a restore."""
    _connections.append(cache.cache_clear)
    return per_container(cache)


def forget_on_reset(clear: Callable[[], None]) -> None:
    """Register other container state (a dict, say) by the call that empties it."""
    _state.append(clear)


def reset() -> None:
    """Forget everything a container keeps, as a new one would start."""
    for clear in _state:
        clear()


def after_restore() -> None:
    """What a SnapStart restore runs before the first invocation: new connections, a new random state."""
    for clear in _connections:
        clear()
    random.seed()


def register_with_snapstart() -> None:
    """Have the runtime call after_restore() after each restore, when this init is a SnapStart snapshot's.

    snapshot_restore_py is part of Lambda's Python runtime; elsewhere there is no snapshot to restore.
    """
    if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") != "snap-start":
        return
    from snapshot_restore_py import register_after_restore  # type: ignore[import-not-found,unused-ignore]

    register_after_restore(after_restore)


register_with_snapstart()
