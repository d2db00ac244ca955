"""The media proxy (issue 4, "Privacy by default"): remote images are fetched by the server,
checked, cached in the data directory and answered from the node's own origin.

Only loopback is ever contacted: a tiny image server in a thread counts every request it gets,
so a test can prove that an image was fetched once, or that a refused one was never asked for.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import threading
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from federation_support import ServedNode, served_node

from conftest import LiveServer, free_port
from conftest import test_settings as settings_for
from kunveno.adapters.activitypub.fetching import FetchError, FetchPolicy, SafeHttp
from kunveno.adapters.http.media import media_path, media_url
from kunveno.adapters.media import (
    PROXY_MARK,
    MediaCache,
    media_digest,
    sniff_image_type,
)
from kunveno.bootstrap import build

LIMIT = 8 * 1024 * 1024


def png(width: int = 1, height: int = 1) -> bytes:
    """A real, minimal PNG (greyscale, one byte per pixel)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"".join(b"\x00" + b"\x80" * width for _ in range(height)))
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


PNG = png(2, 2)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 32
GIF = b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L" + b"\x00" * 16
AVIF = b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + b"\x00" * 8
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><html><body><script>alert(1)</script></body></html>"


# --- the loopback image server ----------------------------------------------------------------


Responder = Callable[[BaseHTTPRequestHandler], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.routes: dict[str, Responder] = {}
        self.hits: Counter[str] = Counter()
        self.via: list[str] = []
        self.lock = threading.Lock()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.hits[self.path] += 1
            self.server.via.append(self.headers.get("Via", ""))
        responder = self.server.routes.get(self.path, answer(404, b"", "text/plain"))
        # The proxy hanging up mid-answer is what a size refusal looks like from here.
        with contextlib.suppress(ConnectionError):
            responder(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class ImageServer:
    server: _Server
    routes: dict[str, Responder] = field(init=False)

    def __post_init__(self) -> None:
        self.routes = self.server.routes

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server.server_address[1]}{path}"

    def route(self, path: str, responder: Responder) -> str:
        self.routes[path] = responder
        return self.url(path)

    def hits(self, path: str) -> int:
        with self.server.lock:
            return self.server.hits[path]

    @property
    def total(self) -> int:
        with self.server.lock:
            return sum(self.server.hits.values())

    @property
    def via(self) -> list[str]:
        with self.server.lock:
            return list(self.server.via)


def answer(
    status: int, body: bytes, content_type: str, *, content_length: bool = True
) -> Responder:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        if content_length:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        # Without a Content-Length (HTTP/1.0), the body ends when the connection closes.
        for start in range(0, len(body), 65536):
            handler.wfile.write(body[start : start + 65536])

    return respond


def image(body: bytes, content_type: str = "image/png", **kwargs: Any) -> Responder:
    return answer(200, body, content_type, **kwargs)


def redirect(location: str) -> Responder:
    def respond(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", location)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    return respond


@pytest.fixture
def images() -> Iterator[ImageServer]:
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield ImageServer(server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def node(database_url: str, tmp_path: Path) -> Iterator[ServedNode]:
    with served_node(database_url, data_dir=tmp_path) as served:
        yield served


@contextmanager
def guarded_node(database_url: str, data_dir: Path) -> Iterator[ServedNode]:
    """Like ``served_node``, but with the production address guard: private, loopback and
    link-local addresses refused (``served_node`` always allows them)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = settings_for(
        database_url,
        base_url=url,
        data_dir=data_dir,
        federation_allow_http=True,
        federation_allow_private=False,
    )
    container = build(settings)
    try:
        with LiveServer(container, port), httpx.Client(base_url=url, timeout=15) as api:
            yield ServedNode(container, api, url)
    finally:
        container.close()


def proxied(remote_url: str) -> str:
    return f"/media/proxy?url={quote(remote_url, safe='')}"


def refused(node: ServedNode, remote_url: str, status: int, code: str) -> dict[str, Any]:
    response = node.api.get(proxied(remote_url))
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == code, body
    assert body["detail"]
    return body


def cache_files(tmp_path: Path) -> list[str]:
    directory = tmp_path / "media"
    return sorted(os.listdir(directory)) if directory.exists() else []


# --- served from the cache ---------------------------------------------------------------------


def test_an_image_is_fetched_once_and_then_served_from_the_cache(
    node: ServedNode, images: ImageServer, tmp_path: Path
) -> None:
    url = images.route("/avatar.png", image(PNG))

    first = node.api.get(proxied(url))
    second = node.api.get(proxied(url))
    by_digest = node.api.get(f"/media/{media_digest(url)}")

    for response in (first, second, by_digest):
        assert response.status_code == 200, response.text
        assert response.content == PNG
        assert response.headers["content-type"] == "image/png"
        assert response.headers["cache-control"] == "public, max-age=86400, immutable"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert images.hits("/avatar.png") == 1
    assert images.via == [PROXY_MARK]

    digest = media_digest(url)
    assert cache_files(tmp_path) == [digest, f"{digest}.json"]
    assert (tmp_path / "media" / digest).read_bytes() == PNG
    sidecar = json.loads((tmp_path / "media" / f"{digest}.json").read_text())
    assert sidecar["source_url"] == url
    assert sidecar["content_type"] == "image/png"
    assert sidecar["size"] == len(PNG)
    assert datetime.fromisoformat(sidecar["fetched_at"]) <= datetime.now(UTC)


def test_the_digest_alias_serves_an_entry_fetched_before(
    node: ServedNode, images: ImageServer
) -> None:
    url = images.route("/banner.gif", image(GIF, "image/gif"))
    assert node.api.get(proxied(url)).status_code == 200

    response = node.api.get(media_path(url))

    assert response.status_code == 200
    assert response.content == GIF
    assert response.headers["content-type"] == "image/gif"
    assert response.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert images.hits("/banner.gif") == 1


def test_each_allowed_type_is_served_with_its_own_type(
    node: ServedNode, images: ImageServer
) -> None:
    for name, body, kind in (
        ("a.jpg", JPEG, "image/jpeg"),
        ("b.webp", WEBP, "image/webp"),
        ("c.avif", AVIF, "image/avif"),
        ("d.jpg", JPEG, "image/jpg; charset=binary"),
    ):
        url = images.route(f"/{name}", image(body, kind))
        response = node.api.get(proxied(url))
        assert response.status_code == 200, (name, response.text)
        assert response.content == body
        assert response.headers["content-type"] == sniff_image_type(body)


def test_redirects_are_followed_and_cached_under_the_url_asked_for(
    node: ServedNode, images: ImageServer
) -> None:
    images.route("/real.png", image(PNG))
    url = images.route("/moved.png", redirect("/real.png"))

    response = node.api.get(proxied(url))

    assert response.status_code == 200, response.text
    assert response.content == PNG
    assert node.api.get(f"/media/{media_digest(url)}").content == PNG


def test_an_unknown_or_malformed_digest_is_404(node: ServedNode) -> None:
    for digest in ("0" * 64, "f" * 64, "nothex", "A" * 64, "..%2F..%2Fetc%2Fpasswd"):
        response = node.api.get(f"/media/{digest}")
        assert response.status_code == 404, digest
        assert response.json()["error"] == "not_found"


# --- refusals -----------------------------------------------------------------------------------


def test_svg_html_and_mismatched_bytes_are_refused(
    node: ServedNode, images: ImageServer, tmp_path: Path
) -> None:
    svg = images.route("/logo.svg", image(SVG, "image/svg+xml"))
    html = images.route("/page.html", image(HTML, "text/html; charset=utf-8"))
    fake_png = images.route("/fake.png", image(HTML, "image/png"))
    svg_as_png = images.route("/svg.png", image(SVG, "image/png"))
    gif_as_png = images.route("/gif.png", image(GIF, "image/png"))
    untyped = images.route("/untyped", image(PNG, ""))

    for url in (svg, html, fake_png, svg_as_png, gif_as_png, untyped):
        refused(node, url, 415, "content_type_refused")
    assert cache_files(tmp_path) == []


def test_an_image_over_the_limit_is_refused_with_a_content_length(
    node: ServedNode, images: ImageServer, tmp_path: Path
) -> None:
    url = images.route("/huge.png", image(PNG + b"\x00" * LIMIT))
    refused(node, url, 413, "too_large")
    assert cache_files(tmp_path) == []


def test_an_image_over_the_limit_is_refused_without_a_content_length(
    node: ServedNode, images: ImageServer, tmp_path: Path
) -> None:
    url = images.route("/stream.png", image(PNG + b"\x00" * LIMIT, content_length=False))
    refused(node, url, 413, "too_large")
    assert cache_files(tmp_path) == []


def test_an_image_at_the_limit_is_accepted(node: ServedNode, images: ImageServer) -> None:
    body = PNG + b"\x00" * (LIMIT - len(PNG))
    url = images.route("/just-fits.png", image(body, content_length=False))
    response = node.api.get(proxied(url))
    assert response.status_code == 200, response.text
    assert len(response.content) == LIMIT


def test_a_redirect_to_another_scheme_is_refused(node: ServedNode, images: ImageServer) -> None:
    for path, target in (("/to-file", "file:///etc/passwd"), ("/to-ftp", "ftp://127.0.0.1/a.png")):
        url = images.route(path, redirect(target))
        refused(node, url, 422, "scheme_refused")


def test_other_schemes_and_our_own_origin_are_refused(
    node: ServedNode, images: ImageServer
) -> None:
    refused(node, "file:///etc/passwd", 422, "scheme_refused")
    refused(node, "javascript:alert(1)", 422, "scheme_refused")
    refused(node, f"{node.url}/media/proxy?url=x", 422, "local_id")
    assert images.total == 0


def test_a_missing_or_invalid_url_is_400(node: ServedNode) -> None:
    for query in ("", "?url=", "?url=%20", "?url=not%20a%20url", "?url=http%3A%2F%2F"):
        response = node.api.get(f"/media/proxy{query}")
        assert response.status_code == 400, (query, response.text)
        assert response.json()["error"] in {"url_missing", "url_invalid"}
    too_long = "https://example.invalid/" + "a" * 3000
    assert node.api.get(proxied(too_long)).status_code == 400


def test_remote_failures_are_502(node: ServedNode, images: ImageServer) -> None:
    refused(node, images.url("/missing.png"), 502, "http_status")
    loop = images.route("/loop", redirect("/loop"))
    refused(node, loop, 502, "too_many_redirects")


def test_a_redirect_back_to_a_media_proxy_is_not_followed_around(
    node: ServedNode, images: ImageServer
) -> None:
    url = images.url("/bounce")
    images.route("/bounce", redirect(f"{node.url}{proxied(url)}"))

    refused(node, url, 502, "http_status")

    assert images.hits("/bounce") == 1
    direct = node.api.get(proxied(url), headers={"Via": PROXY_MARK})
    assert direct.status_code == 508
    assert direct.json()["error"] == "loop_detected"


def test_private_addresses_are_refused_before_any_request(
    database_url: str, images: ImageServer, tmp_path: Path
) -> None:
    url = images.route("/private.png", image(PNG))
    with guarded_node(database_url, tmp_path) as node:
        refused(node, url, 422, "address_refused")
        refused(node, images.url("/private.png", host="localhost"), 422, "address_refused")
        refused(node, "http://[::ffff:127.0.0.1]/a.png", 422, "address_refused")
        refused(node, "http://169.254.169.254/latest/meta-data", 422, "address_refused")
    assert images.total == 0
    assert cache_files(tmp_path) == []


# --- the cache itself -------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def http() -> Iterator[SafeHttp]:
    client = SafeHttp(
        FetchPolicy(allow_http=True, allow_private=True, deadline=10),
        user_agent="kunveno-test/1",
    )
    yield client
    client.close()


def test_a_stale_entry_is_fetched_again(
    http: SafeHttp, images: ImageServer, tmp_path: Path
) -> None:
    clock = FakeClock()
    cache = MediaCache(http, tmp_path, ttl=timedelta(days=7), now=clock)
    url = images.route("/a.png", image(PNG))

    cache.fetch(url)
    clock.now += timedelta(days=6)
    cache.fetch(url)
    assert cache.by_digest(media_digest(url)) is not None
    assert images.hits("/a.png") == 1

    clock.now += timedelta(days=2)
    images.route("/a.png", image(GIF, "image/gif"))
    entry = cache.by_digest(media_digest(url))

    assert entry is not None
    assert entry.content_type == "image/gif"
    assert cache.read(entry) == GIF
    assert images.hits("/a.png") == 2


def test_concurrent_fetches_of_one_url_fetch_once_and_keep_a_whole_file(
    http: SafeHttp, images: ImageServer, tmp_path: Path
) -> None:
    cache = MediaCache(http, tmp_path)
    body = png(64, 64)
    url = images.route("/shared.png", image(body))

    with ThreadPoolExecutor(max_workers=8) as pool:
        entries = list(pool.map(lambda _: cache.fetch(url), range(16)))

    assert images.hits("/shared.png") == 1
    assert {cache.read(entry) for entry in entries} == {body}
    assert sorted(os.listdir(tmp_path)) == [media_digest(url), f"{media_digest(url)}.json"]


def test_concurrent_refreshes_never_leave_a_torn_entry(
    http: SafeHttp, images: ImageServer, tmp_path: Path
) -> None:
    """Two caches on one directory (as two processes would be) rewriting the same entry."""
    caches = [MediaCache(http, tmp_path), MediaCache(http, tmp_path)]
    body = png(32, 32)
    url = images.route("/busy.png", image(body))

    def refresh(i: int) -> bytes | None:
        cache = caches[i % 2]
        return cache.read(cache.fetch(url, refresh=True))

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(refresh, range(24)))

    assert all(result in (body, None) for result in results)
    entry = caches[0].by_digest(media_digest(url))
    assert entry is not None
    assert caches[0].read(entry) == body
    assert sorted(os.listdir(tmp_path)) == [media_digest(url), f"{media_digest(url)}.json"]


def test_a_damaged_sidecar_or_image_is_a_miss(
    http: SafeHttp, images: ImageServer, tmp_path: Path
) -> None:
    cache = MediaCache(http, tmp_path)
    url = images.route("/c.png", image(PNG))
    digest = media_digest(url)
    cache.fetch(url)

    (tmp_path / f"{digest}.json").write_text("{not json")
    assert cache.by_digest(digest) is None
    cache.fetch(url)
    (tmp_path / digest).write_bytes(PNG[:-1])
    assert cache.by_digest(digest) is None
    assert cache.read(cache.fetch(url)) == PNG
    assert images.hits("/c.png") == 3


def test_the_cache_refuses_what_the_proxy_refuses(
    http: SafeHttp, images: ImageServer, tmp_path: Path
) -> None:
    cache = MediaCache(http, tmp_path, max_bytes=1024, local_origins=["http://node.test"])
    big = images.route("/big.png", image(PNG + b"\x00" * 2048))
    svg = images.route("/x.svg", image(SVG, "image/svg+xml"))
    for url, code in (
        (big, "too_large"),
        (svg, "content_type_refused"),
        ("http://node.test:80/a.png", "local_id"),
    ):
        with pytest.raises(FetchError) as caught:
            cache.fetch(url)
        assert caught.value.code == code


def test_sniffing_knows_images_and_nothing_else() -> None:
    assert sniff_image_type(PNG) == "image/png"
    assert sniff_image_type(JPEG) == "image/jpeg"
    assert sniff_image_type(GIF) == "image/gif"
    assert sniff_image_type(WEBP) == "image/webp"
    assert sniff_image_type(AVIF) == "image/avif"
    for other in (SVG, HTML, b"", b"RIFF\x00\x00\x00\x00WAVE", b"\x00\x00\x00\x18ftypmp42"):
        assert sniff_image_type(other) is None


def test_media_url_rewrites_remote_images_to_the_proxy() -> None:
    remote = "https://remote.example/avatars/a b.png?size=64&x=1#top"
    rewritten = media_url("https://node.example/", remote)
    assert rewritten == f"https://node.example/media/proxy?url={quote(remote, safe='')}"
    assert media_url("https://node.example", "https://node.example/own.png") == (
        "https://node.example/own.png"
    )
    assert media_url("https://node.example", "javascript:alert(1)").startswith(
        "https://node.example/media/proxy?url="
    )
    assert media_path(remote) == f"/media/{media_digest(remote)}"
