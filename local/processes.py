"""What the local servers (DynamoDB Local, the offline LLM) need of the operating system."""

import shutil
import socket


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
