"""Outbound HTTP for federation, guarded against SSRF and bounded in size and time.

SECURITY.md I-3, I-4, I-5; INTEROP.md §10.7 and §12. Every TCP connection goes through
``_GuardedBackend.connect_tcp``, which resolves the host itself, refuses if any address is not
globally routable and connects to the checked IP literal, so a DNS answer cannot change between
the check and the connect (rebinding), and every redirect hop is checked the same way. TLS still
verifies the original host name: httpcore passes the origin host as ``server_hostname`` to
``start_tls`` on the stream we return.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import closing, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from ssl import SSLContext
from typing import Any, TypeAlias

import httpcore
import httpx

__all__ = [
    "ACCEPT_ACTIVITY",
    "FetchError",
    "FetchPolicy",
    "PostResult",
    "SafeHttp",
    "Signer",
    "is_forbidden_address",
]

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
Signer: TypeAlias = Callable[[str, str, bytes | None, dict[str, str]], dict[str, str]]

ACCEPT_ACTIVITY = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
_ACTIVITY_MEDIA_TYPES = frozenset({"application/activity+json", "application/ld+json"})
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_POST_ANSWER_LIMIT = 64 * 1024


class FetchError(Exception):
    """Why an outbound request was refused or failed; ``code`` is stable, ``detail`` is for logs."""

    def __init__(self, code: str, detail: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.status = status


@dataclass(frozen=True)
class FetchPolicy:
    allow_http: bool = False
    allow_private: bool = False
    max_bytes: int = 1_048_576
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    deadline: float = 20.0
    max_redirects: int = 2


@dataclass(frozen=True)
class PostResult:
    status: int
    headers: dict[str, str]
    retry_after: float | None
    body: bytes = field(default=b"", repr=False)


# --- the address classifier -------------------------------------------------------------------

# Explicit tables, because ``is_global`` differs between Python patch releases (3.11.7 calls
# multicast, 6to4 and 3fff::/20 global).
_FORBIDDEN_V4 = tuple(
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",  # "this network", incl. the unspecified address
        "10.0.0.0/8",
        "100.64.0.0/10",  # CGNAT
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, cloud metadata
        "172.16.0.0/12",
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation
        "203.0.113.0/24",  # documentation
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. broadcast
    )
)
_FORBIDDEN_V6 = tuple(
    ipaddress.IPv6Network(net)
    for net in (
        "::/96",  # unspecified, loopback and deprecated IPv4-compatible: never a real peer
        "64:ff9b:1::/48",  # local-use NAT64, unless in the unambiguous /96 layout (below)
        "100::/64",  # discard
        "2001::/23",  # IETF protocol assignments, incl. Teredo 2001::/32
        "2001:db8::/32",  # documentation
        "3fff::/20",  # documentation
        "5f00::/16",  # SRv6 SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local
        "ff00::/8",  # multicast
    )
)
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")
_SIX_TO_FOUR = ipaddress.IPv6Network("2002::/16")
_BITS_48_TO_95 = ((1 << 48) - 1) << 32


def is_forbidden_address(ip: IPAddress) -> bool:
    """Whether we must never connect to ``ip``: anything that is not a plain global unicast
    address, judging IPv6 forms that carry an IPv4 address by that IPv4 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            return is_forbidden_address(embedded)
        if any(ip in net for net in _FORBIDDEN_V6):
            return True
    elif any(ip in net for net in _FORBIDDEN_V4):
        return True
    return not ip.is_global or ip.is_multicast or ip.is_unspecified


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address that traffic to ``ip`` would reach through a translator, if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    # A local-use NAT64 prefix may be /48 to /96 (RFC 6052), each placing the IPv4 address
    # elsewhere; only the /96 layout is unambiguous, any other stays refused by the table.
    in_local_96 = ip in _NAT64_LOCAL and not int(ip) & _BITS_48_TO_95
    if ip in _NAT64_WELL_KNOWN or in_local_96:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


# --- the connect-time guard (an httpcore network backend) -------------------------------------

# The whole-call deadline of the SafeHttp call running on this thread. Streams consult it on
# every socket operation: httpx fixes its timeouts when the request starts, so without this a
# server sending one byte per read timeout could hold a fetch open for long past the deadline.
_DEADLINE: ContextVar[float | None] = ContextVar("kunveno_fetch_deadline", default=None)

# getaddrinfo cannot be given a timeout; running it here lets the deadline bound it too.
_RESOLVER = ThreadPoolExecutor(max_workers=8, thread_name_prefix="kunveno-resolve")


def _clamp(timeout: float | None, expired: type[Exception]) -> float | None:
    end = _DEADLINE.get()
    if end is None:
        return timeout
    left = end - time.monotonic()
    if left <= 0:
        raise expired("deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        wait = _clamp(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, wait))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _resolve(host: str, port: int, timeout: float | None) -> list[str]:
    future = _RESOLVER.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    try:
        answers = future.result(timeout)
    except FutureTimeout as exc:
        raise httpcore.ConnectTimeout(f"resolving {host} timed out") from exc
    except OSError as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(answer[4][0]) for answer in answers))


def _refuse_forbidden(host: str, addresses: Iterable[str]) -> None:
    for address in addresses:
        # Strip an IPv6 zone ("fe80::1%eth0"): only link-local addresses carry one.
        if is_forbidden_address(ipaddress.ip_address(address.split("%", 1)[0])):
            raise FetchError("address_refused", f"{host} resolves to {address}")


class _GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        started = time.monotonic()
        addresses = _resolve(host, port, _clamp(timeout, httpcore.ConnectTimeout))
        if not self._allow_private:
            _refuse_forbidden(host, addresses)
        end = None if timeout is None else started + timeout
        return _DeadlineStream(
            self._connect_any(addresses, port, end, local_address, socket_options)
        )

    def _connect_any(
        self,
        addresses: list[str],
        port: int,
        end: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.NetworkStream:
        failure: Exception = httpcore.ConnectError("no address to connect to")
        for address in addresses:
            wait = None if end is None else max(end - time.monotonic(), 0.001)
            try:
                return self._inner.connect_tcp(
                    address,
                    port,
                    _clamp(wait, httpcore.ConnectTimeout),
                    local_address,
                    socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        raise failure

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        raise FetchError("address_refused", "unix sockets are never a federation peer")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's own request and response mapping over a pool whose connections all pass the
    guard. HTTPTransport has no parameter for the network backend, so the pool its __init__
    builds (never used, holding no connections) is replaced by one with the guarded backend."""

    def __init__(self, *, allow_private: bool) -> None:
        ssl_context = httpx.create_ssl_context(trust_env=False)
        super().__init__(verify=ssl_context, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=100,
            max_keepalive_connections=20,
            keepalive_expiry=5.0,
            network_backend=_GuardedBackend(allow_private=allow_private),
        )


# --- URLs -------------------------------------------------------------------------------------

Origin: TypeAlias = tuple[str, str, int]


def _origin(url: httpx.URL) -> Origin:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 0))


def _canonical(url: httpx.URL) -> httpx.URL:
    """Without fragment or explicit default port, so equal resources compare equal."""
    port = None if url.port == _DEFAULT_PORTS.get(url.scheme) else url.port
    return url.copy_with(fragment=None, port=port)


def _document_id(document: Mapping[str, Any]) -> httpx.URL:
    claimed = document.get("id")
    if not isinstance(claimed, str):
        raise FetchError("id_mismatch", "document has no string id")
    try:
        return _canonical(httpx.URL(claimed))
    except httpx.InvalidURL as exc:
        raise FetchError("id_mismatch", f"document id is not a URL: {exc}") from exc


# --- responses --------------------------------------------------------------------------------


def _require_success(response: httpx.Response) -> None:
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 410:
        raise FetchError("gone", "the resource is gone", status=status)
    raise FetchError("http_status", f"HTTP {status}", status=status)


def _require_activity_type(response: httpx.Response) -> None:
    media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type not in _ACTIVITY_MEDIA_TYPES:
        raise FetchError("content_type_refused", f"content type {media_type or 'missing'!r}")


def _redirect_target(response: httpx.Response) -> str | None:
    if response.status_code not in _REDIRECT_STATUSES:
        return None
    location: str | None = response.headers.get("location")
    return location


def _read_capped(response: httpx.Response, limit: int, end: float) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FetchError("too_large", f"Content-Length {declared} exceeds {limit}")
    # We ask for identity; a compressed body would make the size cap meaningless.
    if response.headers.get("content-encoding", "identity").lower() != "identity":
        raise FetchError("content_type_refused", "unrequested content encoding")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        size += len(chunk)
        if size > limit:
            raise FetchError("too_large", f"body exceeds {limit} bytes")
        if time.monotonic() > end:
            raise FetchError("timeout", "deadline passed while reading the body")
        chunks.append(chunk)
    return b"".join(chunks)


def _read_prefix(response: httpx.Response, limit: int) -> bytes:
    """Up to ``limit`` bytes of an answer we only keep for diagnostics."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_raw():
        chunks.append(chunk[: limit - size])
        size += len(chunks[-1])
        if size >= limit:
            break
    return b"".join(chunks)


def _parse_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise FetchError("json_invalid", f"not JSON: {type(exc).__name__}") from exc
    if not isinstance(value, dict):
        raise FetchError("json_invalid", "not a JSON object")
    return value


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


@contextmanager
def _network_errors() -> Iterator[None]:
    try:
        yield
    except httpx.TimeoutException as exc:
        raise FetchError("timeout", str(exc) or type(exc).__name__) from exc
    except httpx.InvalidURL as exc:
        raise FetchError("url_invalid", str(exc)) from exc
    except httpx.HTTPError as exc:
        raise FetchError("connect_failed", str(exc) or type(exc).__name__) from exc


# --- the client -------------------------------------------------------------------------------


class SafeHttp:
    """The only way the server talks to other servers. Thread-safe; share one per policy."""

    def __init__(
        self, policy: FetchPolicy, *, user_agent: str, local_origins: Collection[str] = ()
    ) -> None:
        self._policy = policy
        self._user_agent = user_agent
        self._local_origins = frozenset(_origin(httpx.URL(o)) for o in local_origins)
        self._client = httpx.Client(
            transport=_GuardedTransport(allow_private=policy.allow_private),
            trust_env=False,
            follow_redirects=False,
        )

    def get_activity_json(self, url: str, *, signer: Signer | None = None) -> dict[str, Any]:
        """An ActivityStreams object whose id is where it was fetched from (I-3)."""
        with self._deadline() as end:
            requested = self._checked_url(url)
            self._refuse_local(requested)
            final, document = self._fetch_document(requested, signer, end)
            claimed = _document_id(document)
            self._refuse_local(claimed)
            if claimed == final:
                return document
            if _origin(claimed) != _origin(final):
                raise FetchError("id_mismatch", f"{final} claims id {claimed}")
            # Same origin: the id may be the canonical address; trust only what lives there.
            final, document = self._fetch_document(self._checked_url(claimed), signer, end)
            if final != claimed or _document_id(document) != claimed:
                raise FetchError("id_mismatch", f"{claimed} does not confirm its own id")
            return document

    def get_bytes(
        self,
        url: str,
        *,
        accept: str,
        max_bytes: int | None = None,
        signer: Signer | None = None,
    ) -> tuple[bytes, str]:
        limit = self._policy.max_bytes if max_bytes is None else max_bytes
        with self._deadline() as end:
            response = self._get_following(self._checked_url(url), accept, signer, end)[1]
            with closing(response):
                _require_success(response)
                body = _read_capped(response, limit, end)
                return body, response.headers.get("content-type", "")

    def post(
        self,
        url: str,
        body: bytes,
        headers: Mapping[str, str],
        *,
        signer: Signer | None = None,
    ) -> PostResult:
        """Delivers ``body``; any status, a redirect included, is the caller's to judge."""
        with self._deadline() as end:
            target = self._checked_url(url)
            response = self._open("POST", target, body, dict(headers), signer, end)
            with closing(response):
                answer = _read_prefix(response, _POST_ANSWER_LIMIT)
            return PostResult(
                status=response.status_code,
                headers={name.lower(): value for name, value in response.headers.items()},
                retry_after=_retry_after(response.headers.get("retry-after")),
                body=answer,
            )

    def close(self) -> None:
        self._client.close()

    @contextmanager
    def _deadline(self) -> Iterator[float]:
        end = time.monotonic() + self._policy.deadline
        token = _DEADLINE.set(end)
        try:
            with _network_errors():
                yield end
        finally:
            _DEADLINE.reset(token)

    def _checked_url(self, url: str | httpx.URL) -> httpx.URL:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise FetchError("url_invalid", str(exc)) from exc
        allowed = {"https", "http"} if self._policy.allow_http else {"https"}
        if parsed.scheme and parsed.scheme not in allowed:
            raise FetchError("scheme_refused", f"scheme {parsed.scheme!r}")
        if not parsed.scheme or not parsed.host:
            raise FetchError("url_invalid", f"not an absolute URL: {url}")
        if parsed.userinfo:
            raise FetchError("url_invalid", "credentials in the URL")
        return _canonical(parsed)

    def _refuse_local(self, url: httpx.URL) -> None:
        if _origin(url) in self._local_origins:
            raise FetchError("local_id", f"{url} is on our own origin")

    def _fetch_document(
        self, url: httpx.URL, signer: Signer | None, end: float
    ) -> tuple[httpx.URL, dict[str, Any]]:
        final, response = self._get_following(url, ACCEPT_ACTIVITY, signer, end)
        with closing(response):
            _require_success(response)
            _require_activity_type(response)
            body = _read_capped(response, self._policy.max_bytes, end)
        return final, _parse_object(body)

    def _get_following(
        self, url: httpx.URL, accept: str, signer: Signer | None, end: float
    ) -> tuple[httpx.URL, httpx.Response]:
        """The first non-redirect response (open, to be streamed) and the URL it came from."""
        current = url
        for _hop in range(self._policy.max_redirects + 1):
            response = self._open("GET", current, None, {"Accept": accept}, signer, end)
            location = _redirect_target(response)
            if location is None:
                return current, response
            response.close()
            current = self._checked_url(current.join(location))
        raise FetchError("too_many_redirects", f"more than {self._policy.max_redirects}")

    def _open(
        self,
        method: str,
        url: httpx.URL,
        body: bytes | None,
        headers: dict[str, str],
        signer: Signer | None,
        end: float,
    ) -> httpx.Response:
        headers = {"User-Agent": self._user_agent, "Accept-Encoding": "identity", **headers}
        if signer is not None:
            headers.update(signer(method, str(url), body, dict(headers)))
        request = self._client.build_request(
            method, url, headers=headers, content=body, timeout=self._timeouts(end)
        )
        return self._client.send(request, stream=True)

    def _timeouts(self, end: float) -> httpx.Timeout:
        left = end - time.monotonic()
        if left <= 0:
            raise FetchError("timeout", "deadline passed")
        connect = min(self._policy.connect_timeout, left)
        read = min(self._policy.read_timeout, left)
        return httpx.Timeout(connect=connect, read=read, write=read, pool=connect)
