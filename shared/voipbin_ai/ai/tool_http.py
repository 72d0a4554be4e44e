"""The HTTP client of the configured tools: public addresses only, a bounded answer, one deadline in all.

A tool's URL comes from configuration, but where its host resolves to, how slowly it answers and how much
it sends do not: a DNS name pointing at the instance metadata service, a server trickling a byte a second
or a 40 MiB answer must not reach the credentials or hold the turn. So the client connects only to the
addresses it checked itself (no rebinding between check and connect), every read and write is bounded by
what is left of the request's deadline, no redirect is followed, no proxy from the environment is used,
and the answer is read up to a byte limit, uncompressed.
"""

import ipaddress
import socket
import time
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import httpcore2
import httpx2

from voipbin_ai.container import holds_connections

# When the request being made must be done (time.monotonic), for the streams of the pool's connections.
_DEADLINE: ContextVar[float | None] = ContextVar("tool_request_deadline", default=None)


class ToolHttpError(Exception):
    """The tool's endpoint could not be used: refused address, deadline, or an answer not read."""


def post_json(
    url: str,
    arguments: Mapping[str, Any],
    *,
    headers: Mapping[str, str],
    deadline_seconds: float,
    max_bytes: int,
    allow_private: bool = False,
) -> tuple[int, str]:
    """POST the arguments as JSON: (status, the answer's first max_bytes as text), all within the deadline.

    allow_private lets it reach loopback and private addresses (local development, ALLOW_PRIVATE_TOOL_URLS).
    """
    token = _DEADLINE.set(time.monotonic() + deadline_seconds)
    try:
        with _client(allow_private=allow_private).stream(
            "POST",
            url,
            json=dict(arguments),
            headers={**headers, "Accept-Encoding": "identity"},
            timeout=deadline_seconds,
        ) as response:
            if response.headers.get("Content-Encoding", "identity") != "identity":
                raise ToolHttpError("the answer is compressed although identity was asked for")
            body = _read_at_most(response.iter_raw(), max_bytes)
            return response.status_code, body.decode(response.encoding or "utf-8", errors="replace")
    except httpx2.TimeoutException as error:
        raise ToolHttpError(f"no answer within {deadline_seconds:g} s") from error
    except httpx2.HTTPError as error:
        raise ToolHttpError(str(error) or type(error).__name__) from error
    finally:
        _DEADLINE.reset(token)


def _read_at_most(chunks: Iterator[bytes], max_bytes: int) -> bytes:
    body = bytearray()
    for chunk in chunks:
        body += chunk
        if len(body) >= max_bytes:
            break
    return bytes(body[:max_bytes])


def is_public(address: str) -> bool:
    """Whether an IP address is on the public internet (not private, loopback, link-local, metadata...)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _remaining(timeout: float | None, expired: type[Exception]) -> float | None:
    """The timeout of one read or write: no longer than what is left of the request's deadline."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the tool request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore2.NetworkStream):
    """A connection whose every read and write ends by the deadline of the request using it."""

    def __init__(self, stream: httpcore2.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _remaining(timeout, httpcore2.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _remaining(timeout, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self, ssl_context: Any, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore2.NetworkStream:
        stream = self._stream.start_tls(ssl_context, server_hostname, _remaining(timeout, httpcore2.ConnectTimeout))
        return _DeadlineStream(stream)

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _CheckedBackend(httpcore2.SyncBackend):
    """Resolves the host itself and connects to a checked address; TLS still verifies the host name."""

    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore2.NetworkStream:
        try:
            resolved = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as error:
            raise httpcore2.ConnectError(f"cannot resolve {host}: {error}") from error
        addresses = [str(sockaddr[0]) for *_, sockaddr in resolved]
        if not addresses:
            raise httpcore2.ConnectError(f"{host} resolves to no address")
        if not self._allow_private and not all(is_public(address) for address in addresses):
            raise httpcore2.ConnectError(f"{host} resolves to an address that is not public")
        failure: httpcore2.ConnectError | None = None
        for address in dict.fromkeys(addresses):  # each checked address in turn, as create_connection does
            try:
                stream = super().connect_tcp(
                    address, port, _remaining(timeout, httpcore2.ConnectTimeout), local_address, socket_options
                )
            except httpcore2.ConnectError as error:
                failure = error
                continue
            return _DeadlineStream(stream)
        raise failure or httpcore2.ConnectError(f"cannot connect to {host}")


@holds_connections
@lru_cache(maxsize=2)
def _client(*, allow_private: bool) -> httpx2.Client:
    """One pooled client for the configured tools' endpoints, for the container's life."""
    transport = httpx2.HTTPTransport(trust_env=False)
    # httpx takes no network backend; its pool is replaced by one with the checked backend.
    transport._pool = httpcore2.ConnectionPool(
        ssl_context=httpx2.create_ssl_context(trust_env=False),
        network_backend=_CheckedBackend(allow_private=allow_private),
    )
    return httpx2.Client(transport=transport, follow_redirects=False, trust_env=False)
