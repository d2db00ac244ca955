"""Body digests: the RFC 3230 ``Digest`` the fediverse sends, and RFC 9530 ``Content-Digest``.

``SignatureError`` lives here, not in ``signatures``, so that the two modules do not import
each other; ``signatures`` re-exports it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Mapping

# The package root does not re-export these for type checkers.
from http_sfv.dictionary import Dictionary
from http_sfv.item import Item

_HASHES: dict[str, Callable[[bytes], bytes]] = {
    "sha-256": lambda body: hashlib.sha256(body).digest(),
    "sha-512": lambda body: hashlib.sha512(body).digest(),
}
_SIZES = {"sha-256": 32, "sha-512": 64}


class SignatureError(Exception):
    """A request's signature or digest was refused; ``code`` is stable, ``detail`` is for logs."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


def digest_header(body: bytes) -> str:
    """``Digest`` as Mastodon sends it (RFC 3230 style)."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def content_digest_header(body: bytes) -> str:
    """RFC 9530 ``Content-Digest`` with sha-256."""
    return str(Dictionary({"sha-256": hashlib.sha256(body).digest()}))


def header_values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value of a field, case-insensitively, in the order received.

    Iterating ``items()`` rather than indexing keeps repeated fields: starlette's ``Headers``
    returns only the first on ``[]`` but lists them all in ``items()``.
    """
    wanted = name.lower()
    return [value for key, value in headers.items() if key.lower() == wanted]


def verify_body_digests(headers: Mapping[str, str], body: bytes, *, required: bool) -> None:
    """Check every ``Digest`` and ``Content-Digest`` present against ``body``."""
    digest = header_values(headers, "digest")
    content_digest = header_values(headers, "content-digest")
    if not digest and not content_digest:
        if required:
            raise SignatureError("digest_missing", "neither Digest nor Content-Digest is present")
        return
    if digest:
        _check_all(_parse_digest(", ".join(digest)), body)
    if content_digest:
        _check_all(_parse_content_digest(", ".join(content_digest)), body)


def _check_all(expected: dict[str, bytes], body: bytes) -> None:
    for algorithm, value in expected.items():
        if not hmac.compare_digest(value, _HASHES[algorithm](body)):
            raise SignatureError("digest_mismatch", f"{algorithm} does not match the body")


def _parse_digest(value: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for part in value.split(","):
        algorithm, equals, encoded = part.strip().partition("=")
        if not equals or not algorithm:
            raise SignatureError("digest_malformed", f"Digest entry {part.strip()!r}")
        algorithm = algorithm.lower()
        if algorithm in _SIZES:
            found[algorithm] = _strict_b64(algorithm, encoded.strip())
    if not found:
        raise SignatureError("digest_malformed", "Digest has no sha-256 or sha-512 entry")
    return found


def _strict_b64(algorithm: str, encoded: str) -> bytes:
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as error:
        raise SignatureError("digest_malformed", f"{algorithm} is not base64") from error
    # b64decode tolerates surplus padding and stray low bits; only the canonical form is valid.
    if len(raw) != _SIZES[algorithm] or base64.b64encode(raw).decode("ascii") != encoded:
        raise SignatureError("digest_malformed", f"{algorithm} is not a canonical digest")
    return raw


def _parse_content_digest(value: str) -> dict[str, bytes]:
    parsed = Dictionary()
    try:
        parsed.parse(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise SignatureError("digest_malformed", "Content-Digest is not a dictionary") from error
    found = {
        algorithm: _member_bytes(algorithm, member, value)
        for algorithm, member in parsed.items()
        if algorithm in _SIZES
    }
    if not found:
        raise SignatureError("digest_malformed", "Content-Digest has no sha-256 or sha-512")
    return found


def _member_bytes(algorithm: str, member: object, raw_field: str) -> bytes:
    if not isinstance(member, Item) or not isinstance(member.value, bytes):
        raise SignatureError("digest_malformed", f"{algorithm} is not a byte sequence")
    digest = member.value
    canonical = base64.b64encode(digest).decode("ascii")
    # http_sfv decodes byte sequences leniently (it accepts the "...FabDg==" printed in
    # RFC 9530), so require the canonical text, padded or not (RFC 8941 4.2.7), in the field.
    spelled = f":{canonical}:" in raw_field or f":{canonical.rstrip('=')}:" in raw_field
    if len(digest) != _SIZES[algorithm] or not spelled:
        raise SignatureError("digest_malformed", f"{algorithm} is not a canonical digest")
    return digest
