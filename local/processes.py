"""What the local servers (DynamoDB Local, the offline LLM, the stack's HTTP API and bus) need of the OS."""

import fcntl
import shutil
import socket
from collections.abc import Callable
from http.server import ThreadingHTTPServer
from pathlib import Path


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def dying_with_parent(command: list[str]) -> list[str]:
    """The command under `setpriv --pdeathsig` where util-linux has it (Linux), so no server is orphaned.

    The server gets SIGTERM when its parent dies, even by SIGKILL (a CI timeout), which no finally clause handles.
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", *command] if setpriv else command


class LoopbackHTTPServer(ThreadingHTTPServer):
    """A threaded HTTP server that keeps up with many concurrent calls (the default backlog of 5 drops them)."""

    request_queue_size = 256
    daemon_threads = True


def install_once(cache_dir: Path, marker: str, install: Callable[[Path], None]) -> None:
    """Run install(cache_dir) unless it has succeeded before; parallel runs wait on a lock, not install twice.

    The marker file is written after the install succeeds, so an interrupted install is redone, and a marker
    named after the pinned versions makes a new pin install anew.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / "install.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (cache_dir / marker).exists():
            install(cache_dir)
            (cache_dir / marker).touch()
