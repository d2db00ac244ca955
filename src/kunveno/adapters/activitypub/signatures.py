"""HTTP signatures: draft-cavage-12 as the fediverse deploys it, and RFC 9421 on input.

See ``shared/design/INTEROP.md`` sections 4 and 5 for the peers' behaviour encoded here.
The RFC 9421 signature base is built here on ``http_sfv`` rather than by
``http_message_signatures``: its verifier reads the wall clock with a fixed five-second skew
and keeps the base construction private, and we need both an injected clock and the base.
"""

from __future__ import annotations

import base64
import binascii
import email.utils
import re
import urllib.parse
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, TypeAlias, TypeVar

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.padding import PKCS1v15
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

# The package root does not re-export these for type checkers.
from http_sfv.dictionary import Dictionary
from http_sfv.item import InnerList, Item

from kunveno.adapters.activitypub.digests import (
    SignatureError,
    digest_header,
    header_values,
    verify_body_digests,
)

__all__ = [
    "Component",
    "ParsedSignature",
    "PublicKey",
    "SignatureError",
    "build_signing_string",
    "http_date",
    "load_public_key",
    "parse_signature",
    "request_target",
    "rfc9421_signature_base",
    "rsa_sha256_sign",
    "sign_request",
    "verify_request",
]

PublicKey: TypeAlias = RSAPublicKey | Ed25519PublicKey
_T = TypeVar("_T")

MAX_RSA_BITS = 8192
DEFAULT_MAX_AGE = timedelta(hours=1, minutes=5)
_DEFAULT_PORTS = {"http": "80", "https": "443"}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_HOST_COVERED_METHODS = frozenset({"GET", "HEAD"})
_SF_DICTIONARY_FIELDS = frozenset({"content-digest", "repr-digest", "signature", "signature-input"})
_CAVAGE_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*(?:"([^"]*)"|([0-9]+))\s*(?:,|$)')


@dataclass(frozen=True)
class Component:
    """An RFC 9421 covered component: its name, parameters and serialized identifier."""

    name: str
    params: tuple[tuple[str, object], ...]
    identifier: str


@dataclass(frozen=True)
class ParsedSignature:
    """A signature header, parsed but not verified.

    ``covered`` holds lowercase header names (cavage) or component names (RFC 9421);
    ``components`` and ``signature_params`` (the ``@signature-params`` value) are RFC 9421 only.
    """

    scheme: Literal["cavage", "rfc9421"]
    key_id: str
    algorithm: str | None
    covered: tuple[str, ...]
    signature: bytes
    raw: str
    created: int | None = None
    expires: int | None = None
    label: str | None = None
    components: tuple[Component, ...] = ()
    signature_params: str = ""


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes | None
    authority: str
    scheme: str

    @property
    def query_suffix(self) -> str:
        return f"?{self.query}" if self.query else ""

    @property
    def has_body(self) -> bool:
        return bool(self.body) or self.method in _BODY_METHODS


@dataclass(frozen=True)
class _Window:
    now: datetime
    max_age: timedelta
    max_future: timedelta


# ---------------------------------------------------------------------------- parsing


def parse_signature(headers: Mapping[str, str]) -> ParsedSignature:
    """Parse the request's signature: RFC 9421 when ``Signature-Input`` is present, else cavage."""
    signature_input = header_values(headers, "signature-input")
    signature = header_values(headers, "signature")
    if signature_input:
        return _parse_rfc9421(", ".join(signature_input), ", ".join(signature))
    if len(signature) > 1:
        raise SignatureError("signature_malformed", "more than one Signature header")
    if signature:
        return _parse_cavage(signature[0])
    for value in header_values(headers, "authorization"):
        scheme, _, params = value.strip().partition(" ")
        if scheme.lower() == "signature":
            return _parse_cavage(params)
    raise SignatureError("signature_missing", "no Signature, Signature-Input or Authorization")


def _parse_cavage(value: str) -> ParsedSignature:
    params = _cavage_params(value)
    key_id = params.get("keyid", "")
    signature = params.get("signature", "")
    if not key_id or not signature:
        raise SignatureError("signature_malformed", "keyId and signature are required")
    covered = tuple(params.get("headers", "date").lower().split())
    if not covered:
        raise SignatureError("signature_malformed", "empty headers parameter")
    return ParsedSignature(
        scheme="cavage",
        key_id=key_id,
        algorithm=params.get("algorithm"),
        covered=covered,
        signature=_decode_signature(signature),
        raw=value,
        created=_optional_int(params, "created"),
        expires=_optional_int(params, "expires"),
    )


def _cavage_params(value: str) -> dict[str, str]:
    params: dict[str, str] = {}
    position = 0
    while position < len(value.rstrip()):
        match = _CAVAGE_PARAM.match(value, position)
        if match is None or match.end() == position:
            raise SignatureError("signature_malformed", f"unparseable at offset {position}")
        name = match[1].lower()
        if name in params:
            raise SignatureError("signature_malformed", f"duplicate parameter {match[1]}")
        params[name] = match[2] if match[2] is not None else match[3]
        position = match.end()
    return params


def _optional_int(params: Mapping[str, str], name: str) -> int | None:
    value = params.get(name)
    if value is None:
        return None
    if not value.isdigit():
        raise SignatureError("signature_malformed", f"{name} is not an integer")
    return int(value)


def _decode_signature(value: str) -> bytes:
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as error:
        raise SignatureError("signature_malformed", "signature is not base64") from error
    if not decoded:
        raise SignatureError("signature_malformed", "empty signature")
    return decoded


def _parse_rfc9421(input_value: str, signature_value: str) -> ParsedSignature:
    inputs = _sf_dictionary(input_value, "Signature-Input")
    signatures = _sf_dictionary(signature_value, "Signature")
    if len(inputs) != 1:
        raise SignatureError("signature_malformed", "exactly one signature is required")
    label = next(iter(inputs))
    covered, signature = inputs[label], signatures.get(label)
    if set(signatures) != {label} or not isinstance(covered, InnerList):
        raise SignatureError("signature_malformed", "Signature and Signature-Input disagree")
    if not isinstance(signature, Item) or not isinstance(signature.value, bytes):
        raise SignatureError("signature_malformed", "Signature member is not a byte sequence")
    components = _components(covered)
    return ParsedSignature(
        scheme="rfc9421",
        key_id=_required_param(covered, "keyid", str),
        algorithm=_optional_param(covered, "alg", str),
        covered=tuple(component.name for component in components),
        signature=signature.value,
        raw=input_value,
        created=_required_param(covered, "created", int),
        expires=_optional_param(covered, "expires", int),
        label=label,
        components=components,
        signature_params=str(covered),
    )


def _sf_dictionary(value: str, field: str) -> Dictionary:
    parsed = Dictionary()
    try:
        parsed.parse(value.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as error:
        raise SignatureError("signature_malformed", f"{field} is not a dictionary") from error
    return parsed


def _components(covered: InnerList) -> tuple[Component, ...]:
    components = []
    for item in covered:
        # Tokens and display strings subclass str but are not valid component names.
        if type(item.value) is not str or item.value != item.value.lower():
            raise SignatureError("signature_malformed", f"bad component identifier {item}")
        components.append(Component(item.value, tuple(item.params.items()), str(item)))
    identifiers = [component.identifier for component in components]
    if len(set(identifiers)) != len(identifiers) or '"@signature-params"' in identifiers:
        raise SignatureError("signature_malformed", "repeated or reserved component")
    return tuple(components)


def _required_param(covered: InnerList, name: str, kind: type[_T]) -> _T:
    value = covered.params.get(name)
    # bool is an int subclass, and an SF boolean is not an integer parameter.
    if isinstance(value, bool) or not isinstance(value, kind) or value == "":
        raise SignatureError("signature_malformed", f"parameter {name} missing or mistyped")
    return value


def _optional_param(covered: InnerList, name: str, kind: type[_T]) -> _T | None:
    if name not in covered.params:
        return None
    return _required_param(covered, name, kind)


# ---------------------------------------------------------------------------- verifying


def verify_request(
    parsed: ParsedSignature,
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes | None,
    public_key: PublicKey,
    now: datetime,
    max_age: timedelta = DEFAULT_MAX_AGE,
    max_future: timedelta = DEFAULT_MAX_AGE,
    authority: str | None = None,
    scheme: str = "https",
    require_coverage: bool = True,
) -> None:
    """Raise ``SignatureError`` unless ``parsed`` is a valid, fresh signature of the request.

    ``authority`` is the Host header as received (looked up when omitted). Passing
    ``require_coverage=False`` skips only the rules on which components must be signed, for
    published vectors that predate them; everything else is still checked.
    """
    request = _request(method, path, query, headers, body, authority, scheme)
    window = _Window(_utc(now), max_age, max_future)
    if parsed.scheme == "cavage":
        _verify_cavage(parsed, request, public_key, window, require_coverage)
    else:
        _verify_rfc9421(parsed, request, public_key, window, require_coverage)


def _request(
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    body: bytes | None,
    authority: str | None,
    scheme: str,
) -> _Request:
    if authority is None:
        hosts = header_values(headers, "host")
        authority = hosts[0].strip() if hosts else ""
    return _Request(method.upper(), path or "/", query, headers, body, authority, scheme.lower())


def _verify_cavage(
    parsed: ParsedSignature,
    request: _Request,
    public_key: PublicKey,
    window: _Window,
    require_coverage: bool,
) -> None:
    algorithm = (parsed.algorithm or "hs2019").lower()
    _check_cavage_algorithm(algorithm, public_key)
    _check_pseudo_headers(parsed, algorithm)
    if require_coverage:
        _require_cavage_coverage(parsed.covered, request)
    _check_window(_cavage_created(parsed, request), parsed.expires, window)
    if request.has_body:
        verify_body_digests(request.headers, request.body or b"", required=True)
    for candidate in _signing_string_candidates(parsed, request):
        if _signature_matches(public_key, parsed.signature, candidate.encode("utf-8")):
            return
    raise SignatureError("signature_invalid", "no signing string variant verifies")


def _check_cavage_algorithm(algorithm: str, public_key: PublicKey) -> None:
    # hs2019 means "whatever the key is"; rsa-sha256 names RSA outright (INTEROP 4.1).
    if algorithm == "hs2019":
        return
    if algorithm == "rsa-sha256" and isinstance(public_key, RSAPublicKey):
        return
    raise SignatureError("algorithm_unsupported", f"{algorithm} with {type(public_key).__name__}")


def _check_pseudo_headers(parsed: ParsedSignature, algorithm: str) -> None:
    for name in parsed.covered:
        if not name.startswith("(") or name == "(request-target)":
            continue
        if name not in ("(created)", "(expires)"):
            raise SignatureError("signature_malformed", f"unknown pseudo-header {name}")
        # Mastodon refuses them with rsa-sha256, and they need their parameter to sign.
        value = parsed.created if name == "(created)" else parsed.expires
        if algorithm != "hs2019" or value is None:
            raise SignatureError("signature_malformed", f"{name} needs hs2019 and its parameter")


def _require_cavage_coverage(covered: Sequence[str], request: _Request) -> None:
    required = [("date", "(created)"), ("(request-target)",)]
    if request.has_body:
        required.append(("digest",))
    if request.method in _HOST_COVERED_METHODS:
        required.append(("host",))
    for alternatives in required:
        if not any(name in covered for name in alternatives):
            raise SignatureError("header_not_signed", " or ".join(alternatives))


def _cavage_created(parsed: ParsedSignature, request: _Request) -> datetime:
    if "(created)" in parsed.covered and parsed.created is not None:
        return datetime.fromtimestamp(parsed.created, UTC)
    dates = header_values(request.headers, "date")
    if not dates:
        raise SignatureError("signature_malformed", "no Date header")
    return _parse_http_date(dates[0])


def _parse_http_date(value: str) -> datetime:
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError) as error:
        raise SignatureError("signature_malformed", f"unparseable Date {value!r}") from error
    return _utc(parsed)


def _check_window(created: datetime, expires: int | None, window: _Window) -> None:
    if created > window.now + window.max_future:
        raise SignatureError("signature_expired", "created in the future")
    if window.now - created > window.max_age:
        raise SignatureError("signature_expired", "too old")
    # An explicit expiry still gets the same clock-skew allowance as a future date.
    if expires is not None and window.now > _from_timestamp(expires) + window.max_future:
        raise SignatureError("signature_expired", "past its expires parameter")


def _from_timestamp(value: int) -> datetime:
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError) as error:
        raise SignatureError("signature_malformed", f"timestamp {value} out of range") from error


def _signing_string_candidates(parsed: ParsedSignature, request: _Request) -> Iterator[str]:
    """The signing string, then the compat variants (INTEROP 4.2, 4.5).

    Mobilizon and Gancio sign the path without its query; Gancio signs the host without
    its port.
    """
    targets = [request_target(request.method, request.path, request.query)]
    if request.query:
        targets.append(request_target(request.method, request.path, ""))
    hosts: list[str | None] = [None]
    if "host" in parsed.covered and _without_port(request.authority) != request.authority:
        hosts.append(_without_port(request.authority))
    for target in targets:
        for host in hosts:
            yield build_signing_string(
                parsed.covered,
                request_target=target,
                headers=request.headers,
                host=host,
                created=parsed.created,
                expires=parsed.expires,
            )


def _without_port(authority: str) -> str:
    host, colon, port = authority.rpartition(":")
    if colon and port.isdigit() and (not host.startswith("[") or host.endswith("]")):
        return host
    return authority


def _signature_matches(public_key: PublicKey, signature: bytes, data: bytes) -> bool:
    try:
        if isinstance(public_key, RSAPublicKey):
            public_key.verify(signature, data, PKCS1v15(), hashes.SHA256())
        else:
            public_key.verify(signature, data)
    except InvalidSignature:
        return False
    return True


def _verify_rfc9421(
    parsed: ParsedSignature,
    request: _Request,
    public_key: PublicKey,
    window: _Window,
    require_coverage: bool,
) -> None:
    _check_rfc9421_algorithm(parsed.algorithm, public_key)
    if require_coverage:
        _require_rfc9421_coverage(parsed.covered, request)
    if parsed.created is None:
        raise SignatureError("signature_malformed", "created is required")
    _check_window(_from_timestamp(parsed.created), parsed.expires, window)
    if request.has_body:
        verify_body_digests(request.headers, request.body or b"", required=True)
    if not _signature_matches(public_key, parsed.signature, _signature_base(parsed, request)):
        raise SignatureError("signature_invalid", "signature does not match the base")


def _check_rfc9421_algorithm(algorithm: str | None, public_key: PublicKey) -> None:
    expected = "rsa-v1_5-sha256" if isinstance(public_key, RSAPublicKey) else "ed25519"
    if algorithm is not None and algorithm != expected:
        raise SignatureError("algorithm_unsupported", f"{algorithm} with {expected} key")


def _require_rfc9421_coverage(covered: Sequence[str], request: _Request) -> None:
    if "@method" not in covered:
        raise SignatureError("header_not_signed", "@method")
    if "@target-uri" not in covered and not {"@authority", "@path"} <= set(covered):
        raise SignatureError("header_not_signed", "@target-uri or @authority and @path")
    if request.has_body and "content-digest" not in covered:
        raise SignatureError("header_not_signed", "content-digest")


# ---------------------------------------------------------------------------- RFC 9421 base


def rfc9421_signature_base(
    parsed: ParsedSignature,
    *,
    method: str,
    path: str,
    query: str,
    headers: Mapping[str, str],
    authority: str | None = None,
    scheme: str = "https",
) -> bytes:
    """The RFC 9421 signature base of a request for ``parsed``'s covered components."""
    return _signature_base(parsed, _request(method, path, query, headers, None, authority, scheme))


def _signature_base(parsed: ParsedSignature, request: _Request) -> bytes:
    lines = [f"{c.identifier}: {_component_value(c, request)}" for c in parsed.components]
    lines.append(f'"@signature-params": {parsed.signature_params}')
    base = "\n".join(lines)
    if not base.isascii():
        raise SignatureError("signature_malformed", "non-ASCII signature base")
    return base.encode("ascii")


def _component_value(component: Component, request: _Request) -> str:
    params = dict(component.params)
    if component.name.startswith("@"):
        value = _derived_value(component.name, params, request)
    else:
        value = _field_value(component.name, params, request.headers)
    if "\n" in value or "\r" in value:
        raise SignatureError("signature_malformed", f"newline in {component.identifier}")
    return value


def _authority(request: _Request) -> str:
    authority = request.authority.lower()
    host = _without_port(authority)
    if host != authority and authority.rpartition(":")[2] == _DEFAULT_PORTS.get(request.scheme):
        return host
    return authority


_DERIVED: dict[str, Callable[[_Request], str]] = {
    "@method": lambda r: r.method,
    "@target-uri": lambda r: f"{r.scheme}://{r.authority}{r.path}{r.query_suffix}",
    "@authority": _authority,
    "@scheme": lambda r: r.scheme,
    "@request-target": lambda r: r.path + r.query_suffix,
    "@path": lambda r: r.path,
    "@query": lambda r: f"?{r.query}",
}


def _derived_value(name: str, params: dict[str, object], request: _Request) -> str:
    if name == "@query-param" and set(params) == {"name"}:
        return _query_param(request.query, params["name"])
    if name not in _DERIVED or params:
        raise SignatureError("signature_malformed", f"unsupported derived component {name}")
    return _DERIVED[name](request)


def _query_param(query: str, name: object) -> str:
    if not isinstance(name, str):
        raise SignatureError("signature_malformed", "@query-param name is not a string")
    values = urllib.parse.parse_qs(query, keep_blank_values=True).get(urllib.parse.unquote(name))
    if values is None or len(values) != 1:
        raise SignatureError("signature_malformed", f"query parameter {name} absent or repeated")
    # RFC 9421 2.2.8: re-encode with the form-urlencoded set, spaces as %20.
    return urllib.parse.quote(values[0], safe="*").replace("~", "%7E")


def _field_value(name: str, params: dict[str, object], headers: Mapping[str, str]) -> str:
    values = header_values(headers, name)
    if not values:
        raise SignatureError("signature_invalid", f"covered field {name} is absent")
    value = ", ".join(v.strip(" \t") for v in values)
    if not params:
        return value
    if set(params) == {"sf"} and name in _SF_DICTIONARY_FIELDS:
        return str(_sf_dictionary(value, name))
    if set(params) - {"sf"} == {"key"} and isinstance(params["key"], str):
        member = _sf_dictionary(value, name).get(params["key"])
        if member is not None:
            return str(member)
    raise SignatureError("signature_malformed", f"unsupported parameters on {name}")


# ---------------------------------------------------------------------------- signing


def request_target(method: str, path: str, query: str) -> str:
    """The cavage ``(request-target)`` value."""
    return f"{method.lower()} {path or '/'}{f'?{query}' if query else ''}"


def build_signing_string(
    names: Sequence[str],
    *,
    request_target: str,
    headers: Mapping[str, str],
    host: str | None = None,
    created: int | None = None,
    expires: int | None = None,
) -> str:
    """The cavage signing string; ``host`` overrides the Host header's value."""
    pseudo = {"(request-target)": request_target, "(created)": created, "(expires)": expires}
    lines = []
    for name in (n.lower() for n in names):
        if name in pseudo:
            value = pseudo[name]
        elif name == "host" and host is not None:
            value = host
        else:
            value = _cavage_field(headers, name)
        if value is None:
            raise SignatureError("signature_malformed", f"{name} has no value")
        lines.append(f"{name}: {value}")
    return "\n".join(lines)


def _cavage_field(headers: Mapping[str, str], name: str) -> str:
    values = header_values(headers, name)
    if not values:
        raise SignatureError("signature_invalid", f"signed header {name} is absent")
    return ", ".join(value.strip() for value in values)


def rsa_sha256_sign(private_key: RSAPrivateKey, data: bytes) -> str:
    """Base64 RSASSA-PKCS1-v1_5/SHA-256 signature of ``data``."""
    return base64.b64encode(private_key.sign(data, PKCS1v15(), hashes.SHA256())).decode("ascii")


def http_date(moment: datetime) -> str:
    """IMF-fixdate, as the Date header wants it."""
    return email.utils.format_datetime(_utc(moment).replace(microsecond=0), usegmt=True)


def sign_request(
    *,
    method: str,
    url: str,
    body: bytes | None,
    key_id: str,
    private_key: RSAPrivateKey,
    now: datetime,
    extra_headers: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The headers to send for a cavage-signed request (INTEROP 4.1): extras, Host, Date,
    Digest when there is a body, and Signature."""
    if '"' in key_id or "\\" in key_id:
        raise ValueError("key_id cannot be quoted in a Signature header")
    parts = urllib.parse.urlsplit(url)
    headers = _unsigned_headers(extra_headers)
    headers["Host"] = _host_header(parts)
    headers["Date"] = http_date(now)
    names = ["(request-target)", "host", "date"]
    if body is not None:
        headers["Digest"] = digest_header(body)
        names.append("digest")
    target = request_target(method, parts.path, parts.query)
    signing_string = build_signing_string(names, request_target=target, headers=headers)
    signature = rsa_sha256_sign(private_key, signing_string.encode("utf-8"))
    headers["Signature"] = (
        f'keyId="{key_id}",algorithm="rsa-sha256",headers="{" ".join(names)}",'
        f'signature="{signature}"'
    )
    return headers


def _unsigned_headers(extra_headers: Mapping[str, str] | None) -> dict[str, str]:
    headers = dict(extra_headers or {})
    computed = {"host", "date", "digest", "signature"} & {name.lower() for name in headers}
    if computed:
        raise ValueError(f"sign_request computes {sorted(computed)} itself")
    return headers


def _host_header(parts: urllib.parse.SplitResult) -> str:
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"not an absolute http(s) URL: {parts.geturl()}")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port
    if port is None or str(port) == _DEFAULT_PORTS[parts.scheme]:
        return host
    return f"{host}:{port}"


# ---------------------------------------------------------------------------- keys


def load_public_key(pem: str, *, min_rsa_bits: int = 2048) -> PublicKey:
    """An RSA (``min_rsa_bits``..8192 bits) or Ed25519 public key from PEM."""
    try:
        key = serialization.load_pem_public_key(pem.encode("ascii"))
    except (ValueError, TypeError, UnicodeEncodeError, UnsupportedAlgorithm) as error:
        raise SignatureError("key_invalid", "not a PEM public key") from error
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, RSAPublicKey) and min_rsa_bits <= key.key_size <= MAX_RSA_BITS:
        return key
    raise SignatureError("key_invalid", f"unsupported key {type(key).__name__}")


def _utc(moment: datetime) -> datetime:
    # A naive datetime here means UTC: astimezone() would read it as local time.
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)
