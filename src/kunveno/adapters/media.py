"""The media cache behind the media proxy: remote images fetched by the server, never the browser.

Issue 4, "Privacy by default". Each remote URL is fetched through :class:`SafeHttp` (https only
unless allowed, the address guard at connect time, every redirect re-checked, a whole-call
deadline), capped in size while streaming, and kept only if the answer claims an allowed image
type *and* its bytes look like that type (SVG and HTML never qualify). An entry is two files in
the cache directory, both named by the sha256 of the URL: the image itself and a JSON sidecar
with its content type, size, fetch time and source URL. Files are written to a temporary name in
the same directory and moved into place with ``os.replace``, so a reader (or another process)
never sees half a file; within a process one URL is fetched by one thread at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from kunveno.adapters.activitypub.fetching import FetchError, SafeHttp

__all__ = [
    "DEFAULT_ALLOWED_TYPES",
    "PROXY_MARK",
    "CachedMedia",
    "MediaCache",
    "is_media_digest",
    "media_digest",
    "sniff_image_type",
]

DEFAULT_ALLOWED_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "image/avif")
DEFAULT_MAX_BYTES = 8 * 1024 * 1024
DEFAULT_TTL = timedelta(days=7)

# Sent (as ``Via``) on every media fetch. The proxy endpoint refuses requests carrying it, so a
# remote redirect back to a media proxy (ours or another Kunveno's) cannot make proxies fetch
# through each other in a loop.
PROXY_MARK = "1.1 kunveno-media-proxy"

# Names some servers use for the standard types.
_TYPE_ALIASES = {"image/jpg": "image/jpeg", "image/pjpeg": "image/jpeg", "image/x-png": "image/png"}
_SNIFF_BYTES = 64
_DIGEST_CHARS = frozenset("0123456789abcdef")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def media_digest(url: str) -> str:
    """The name of ``url``'s entry in the cache (and in ``/media/{digest}``)."""
    return hashlib.sha256(url.encode("utf-8")).hexdigest()


def is_media_digest(text: str) -> bool:
    return len(text) == 64 and set(text) <= _DIGEST_CHARS


def sniff_image_type(data: bytes) -> str | None:
    """The image type the bytes start like, judged by magic numbers only; None for anything
    else (SVG, HTML, text and unknown formats included)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if _is_avif(data):
        return "image/avif"
    return None


def _is_avif(data: bytes) -> bool:
    """An ISO-BMFF file whose leading ``ftyp`` box names an AVIF brand (major or compatible)."""
    if data[4:8] != b"ftyp":
        return False
    box_size = int.from_bytes(data[:4], "big")
    end = min(box_size, len(data)) if box_size >= 16 else 0
    brands = [data[8:12]] + [data[i : i + 4] for i in range(16, end - 3, 4)]
    return any(brand in (b"avif", b"avis") for brand in brands)


@dataclass(frozen=True)
class CachedMedia:
    path: Path
    content_type: str
    size: int
    digest: str = ""
    source_url: str = ""
    fetched_at: datetime | None = None


class _KeyedLocks:
    """One lock per key, kept only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(key, (threading.Lock(), 0))
            self._locks[key] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                lock, users = self._locks[key]
                if users == 1:
                    del self._locks[key]
                else:
                    self._locks[key] = (lock, users - 1)


def _mark(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> dict[str, str]:
    # SafeHttp's signer hook is its way to add headers to each hop; media fetches are unsigned.
    return {"Via": PROXY_MARK}


def _origin(url: httpx.URL) -> tuple[str, str, int]:
    return (url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme, 0))


class MediaCache:
    """Remote images, fetched safely and kept in ``directory``. Thread-safe; share one."""

    def __init__(
        self,
        http: SafeHttp,
        directory: Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        allowed_types: Collection[str] = DEFAULT_ALLOWED_TYPES,
        ttl: timedelta = DEFAULT_TTL,
        local_origins: Collection[str] = (),
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._http = http
        self._directory = directory
        self._max_bytes = max_bytes
        self._allowed = frozenset(t.lower() for t in allowed_types)
        self._ttl = ttl
        self._local = frozenset(_origin(httpx.URL(origin)) for origin in local_origins)
        self._now = now
        self._locks = _KeyedLocks()
        self._accept = ", ".join(t for t in DEFAULT_ALLOWED_TYPES if t in self._allowed) or "*/*"

    @property
    def directory(self) -> Path:
        return self._directory

    def fetch(self, url: str, *, refresh: bool = False) -> CachedMedia:
        """The image at ``url``: from the cache while fresh, else fetched and stored.

        Raises :class:`FetchError`: the fetch codes of :class:`SafeHttp`, ``local_id`` for our
        own origin, ``content_type_refused`` for anything but an allowed image whose bytes match
        its declared type, ``too_large`` above ``max_bytes``.
        """
        self._refuse_local(url)
        digest = media_digest(url)
        if not refresh and (entry := self._fresh(digest)) is not None:
            return entry
        with self._locks.hold(digest):
            # Whoever held the lock before us may just have stored it.
            if not refresh and (entry := self._fresh(digest)) is not None:
                return entry
            body, declared = self._http.get_bytes(
                url, accept=self._accept, max_bytes=self._max_bytes, signer=_mark
            )
            return self._store(digest, url, self._checked_type(declared, body), body)

    def by_digest(self, digest: str) -> CachedMedia | None:
        """The entry stored under ``digest``, fetched again from its source once stale; None
        if nothing is stored under it."""
        if not is_media_digest(digest):
            return None
        entry = self._entry(digest)
        if entry is None:
            return None
        if self._is_stale(entry):
            return self.fetch(entry.source_url)
        return entry

    def read(self, entry: CachedMedia) -> bytes | None:
        """The entry's bytes, or None if the file is gone or no longer matches its sidecar
        (e.g. another process replaced it in between): then fetch again."""
        try:
            data = entry.path.read_bytes()
        except OSError:
            return None
        if len(data) != entry.size or sniff_image_type(data[:_SNIFF_BYTES]) != entry.content_type:
            return None
        return data

    # --- checks ---

    def _refuse_local(self, url: str) -> None:
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise FetchError("url_invalid", str(exc)) from exc
        if self._local and _origin(parsed) in self._local:
            raise FetchError("local_id", f"{url} is on our own origin: link it directly")

    def _checked_type(self, declared: str, body: bytes) -> str:
        media_type = declared.split(";", 1)[0].strip().lower()
        media_type = _TYPE_ALIASES.get(media_type, media_type)
        if media_type not in self._allowed:
            raise FetchError("content_type_refused", f"content type {media_type or 'missing'!r}")
        sniffed = sniff_image_type(body[:_SNIFF_BYTES])
        if sniffed != media_type:
            raise FetchError(
                "content_type_refused",
                f"declared {media_type!r} but the bytes look like {sniffed or 'no known image'}",
            )
        return media_type

    def _is_stale(self, entry: CachedMedia) -> bool:
        return entry.fetched_at is None or self._now() - entry.fetched_at >= self._ttl

    # --- files ---

    def _paths(self, digest: str) -> tuple[Path, Path]:
        return self._directory / digest, self._directory / f"{digest}.json"

    def _fresh(self, digest: str) -> CachedMedia | None:
        entry = self._entry(digest)
        return None if entry is None or self._is_stale(entry) else entry

    def _entry(self, digest: str) -> CachedMedia | None:
        """What the sidecar says, if it is readable and the image beside it has its size."""
        data_path, meta_path = self._paths(digest)
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            size = data_path.stat().st_size
        except (OSError, ValueError):
            return None
        entry = _entry_from(meta, data_path, digest)
        if entry is None or entry.size != size or entry.content_type not in self._allowed:
            return None
        return entry

    def _store(self, digest: str, url: str, content_type: str, body: bytes) -> CachedMedia:
        self._directory.mkdir(parents=True, exist_ok=True)
        data_path, meta_path = self._paths(digest)
        fetched_at = self._now()
        meta = {
            "source_url": url,
            "content_type": content_type,
            "size": len(body),
            "fetched_at": fetched_at.isoformat(),
        }
        # Image first: a sidecar never describes a file that is not there yet.
        self._write_atomically(data_path, body)
        self._write_atomically(meta_path, json.dumps(meta, indent=2).encode("utf-8"))
        return CachedMedia(data_path, content_type, len(body), digest, url, fetched_at)

    def _write_atomically(self, path: Path, data: bytes) -> None:
        handle, temporary = tempfile.mkstemp(dir=self._directory, prefix=".tmp-", suffix=".part")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise


def _entry_from(meta: Any, path: Path, digest: str) -> CachedMedia | None:
    if not isinstance(meta, dict):
        return None
    url, content_type, size = meta.get("source_url"), meta.get("content_type"), meta.get("size")
    if not (isinstance(url, str) and isinstance(content_type, str) and isinstance(size, int)):
        return None
    try:
        fetched_at = datetime.fromisoformat(str(meta.get("fetched_at")))
    except ValueError:
        return None
    if fetched_at.tzinfo is None:
        fetched_at = fetched_at.replace(tzinfo=UTC)
    if media_digest(url) != digest:
        return None
    return CachedMedia(path, content_type, size, digest, url, fetched_at)
