"""The media proxy: remote images answered from the node's own origin (issue 4).

``GET /media/proxy?url=...`` fetches (or finds in the cache) a remote image; ``GET
/media/{digest}`` answers an image already cached, by the sha256 of its URL. Pages and API
answers link remote images through :func:`media_url`, so a browser never contacts another host.
"""

from __future__ import annotations

import threading
from typing import Annotated
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Depends, Request, Response

from kunveno.adapters.activitypub.fetching import FetchError
from kunveno.adapters.media import PROXY_MARK, CachedMedia, MediaCache, media_digest

from .deps import Node
from .errors import error_response

__all__ = ["media_cache", "media_url", "router"]

router = APIRouter(tags=["media"])

MAX_URL_LENGTH = 2048

MEDIA_HEADERS = {
    "Cache-Control": "public, max-age=86400, immutable",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}

# Refusals of the address itself are the caller's to fix; the rest is the other server's.
_STATUS_OF_CODE = {
    "url_invalid": 422,
    "scheme_refused": 422,
    "address_refused": 422,
    "local_id": 422,
    "content_type_refused": 415,
    "too_large": 413,
}

_creating = threading.Lock()


def media_url(base_url: str, remote_url: str) -> str:
    """Where a page links the image at ``remote_url``: through our proxy, unless it is already
    on our own origin (``base_url``)."""
    base = base_url.rstrip("/")
    try:
        if _same_origin(httpx.URL(base), httpx.URL(remote_url)):
            return remote_url
    except httpx.InvalidURL:
        pass
    return f"{base}/media/proxy?url={quote(remote_url, safe='')}"


def media_path(remote_url: str) -> str:
    """The stable path of ``remote_url``'s image once the server has cached it."""
    return f"/media/{media_digest(remote_url)}"


def _same_origin(a: httpx.URL, b: httpx.URL) -> bool:
    ports = {"http": 80, "https": 443}
    return bool(b.scheme) and (a.scheme, a.host, a.port or ports.get(a.scheme)) == (
        b.scheme,
        b.host,
        b.port or ports.get(b.scheme),
    )


def media_cache(request: Request, node: Node) -> MediaCache:
    """The node's cache, built on first use from what the container has."""
    state = request.app.state
    with _creating:
        cache = getattr(state, "media_cache", None)
        if not isinstance(cache, MediaCache):
            cache = MediaCache(
                node.http,
                node.settings.data_dir / "media",
                local_origins=[node.urls.base],
                now=node.clock.now,
            )
            state.media_cache = cache
    return cache


Media = Annotated[MediaCache, Depends(media_cache)]


@router.get("/media/proxy")
def proxy(request: Request, cache: Media, url: str | None = None) -> Response:
    if PROXY_MARK in request.headers.get("via", ""):
        return error_response(508, "loop_detected", "a media proxy may not fetch through one")
    if not url or not url.strip():
        return error_response(400, "url_missing", "give the image's address: ?url=...")
    url = url.strip()
    problem = _url_problem(url)
    if problem is not None:
        return error_response(400, "url_invalid", problem)
    try:
        entry = cache.fetch(url)
        body = cache.read(entry)
        if body is None:  # replaced or removed since: fetch once more
            entry = cache.fetch(url, refresh=True)
            body = cache.read(entry)
    except FetchError as error:
        return _refused(error)
    if body is None:
        return error_response(502, "cache_failed", "the image could not be kept")
    return _image(entry, body)


@router.get("/media/{digest}")
def cached(digest: str, cache: Media) -> Response:
    try:
        entry = cache.by_digest(digest)
    except FetchError as error:
        return _refused(error)
    body = None if entry is None else cache.read(entry)
    if entry is None or body is None:
        return error_response(404, "not_found", "no such media in this node's cache")
    return _image(entry, body)


def _url_problem(url: str) -> str | None:
    if len(url) > MAX_URL_LENGTH:
        return f"the address is longer than {MAX_URL_LENGTH} characters"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        return f"not a URL: {exc}"
    if not parsed.scheme or (parsed.scheme in ("http", "https") and not parsed.host):
        return "not an absolute URL"
    return None  # other schemes: refused by the fetch, as the caller's fault (422)


def _refused(error: FetchError) -> Response:
    status = _STATUS_OF_CODE.get(error.code, 502)
    return error_response(status, error.code, error.detail)


def _image(entry: CachedMedia, body: bytes) -> Response:
    return Response(body, media_type=entry.content_type, headers=MEDIA_HEADERS)
