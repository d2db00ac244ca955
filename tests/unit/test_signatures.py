"""HTTP signatures: the published cavage-12 and RFC 9421 vectors, then hostile round trips."""

from __future__ import annotations

import base64
import email.utils
import json
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.datastructures import Headers

from kunveno.adapters.activitypub.digests import digest_header
from kunveno.adapters.activitypub.signatures import (
    PublicKey,
    SignatureError,
    build_signing_string,
    http_date,
    load_public_key,
    parse_signature,
    request_target,
    rfc9421_signature_base,
    rsa_sha256_sign,
    sign_request,
    verify_request,
)

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures" / "signatures"
NOW = datetime(2030, 1, 10, 9, 0, tzinfo=UTC)
KEY_ID = "https://local.example/actors/alice#main-key"
INBOX = "https://remote.example/users/bob/inbox"
INBOX_PATH = "/users/bob/inbox"
BODY = b'{"type": "Follow"}'


def fixture(*parts: str) -> Path:
    path = FIXTURES.joinpath(*parts)
    if not path.is_file():
        pytest.fail(f"signature vector {path} not found: check out shared/ beside the repository")
    return path


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


def read_request(*parts: str) -> HttpRequest:
    head, _, body = fixture(*parts).read_bytes().partition(b"\n\n")
    request_line, *lines = head.decode("ascii").split("\n")
    method, target, _ = request_line.split(" ")
    path, _, query = target.partition("?")
    fields = [(name, value) for name, _, value in (line.partition(": ") for line in lines)]
    return HttpRequest(method, path, query, httpx.Headers(fields), body)


def with_headers(request: HttpRequest, **fields: str) -> HttpRequest:
    headers = httpx.Headers(request.headers)
    for name, value in fields.items():
        headers[name.replace("_", "-")] = value
    return HttpRequest(request.method, request.path, request.query, headers, request.body)


def verify(
    request: HttpRequest,
    key: PublicKey,
    now: datetime,
    *,
    require_coverage: bool = True,
    authority: str | None = None,
) -> None:
    verify_request(
        parse_signature(request.headers),
        method=request.method,
        path=request.path,
        query=request.query,
        headers=request.headers,
        body=request.body,
        public_key=key,
        now=now,
        authority=authority,
        require_coverage=require_coverage,
    )


def refusal(action: Callable[[], object]) -> str:
    with pytest.raises(SignatureError) as caught:
        action()
    return caught.value.code


# ------------------------------------------------------------------ cavage-12 Appendix C


def cavage_case(section: str) -> dict[str, Any]:
    cases = json.loads(fixture("cavage-12", "vectors.json").read_text())["cases"]
    (case,) = [c for c in cases if c["section"].endswith(section)]
    return dict(case)


def cavage_public_key() -> PublicKey:
    return load_public_key(
        fixture("cavage-12", "test-key-rsa.pub.pem").read_text(), min_rsa_bits=1024
    )


def cavage_private_key() -> rsa.RSAPrivateKey:
    pem = fixture("cavage-12", "test-key-rsa.priv.pem").read_bytes()
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


def cavage_request(header: str, value: str) -> HttpRequest:
    return with_headers(read_request("cavage-12", "request.http"), **{header: value})


def request_date(request: HttpRequest) -> datetime:
    return email.utils.parsedate_to_datetime(request.headers["date"])


def cavage_variants() -> list[tuple[str, str, str]]:
    return [
        ("C.1", "Authorization", "authorization_header"),
        ("C.1", "Signature", "signature_header"),
        ("C.2", "Authorization", "authorization_header"),
    ]


@pytest.mark.parametrize(("section", "header", "field"), cavage_variants())
def test_cavage_vector_verifies_from_its_request(section: str, header: str, field: str) -> None:
    request = cavage_request(header, cavage_case(section)[field])
    at = request_date(request)
    verify(request, cavage_public_key(), at, require_coverage=False)
    # Neither vector signs the digest of its POST body, which we require.
    assert refusal(lambda: verify(request, cavage_public_key(), at)) == "header_not_signed"
    assert refusal(
        lambda: verify(
            request, cavage_public_key(), at + timedelta(hours=2), require_coverage=False
        )
    ) == ("signature_expired")


@pytest.mark.parametrize("section", ["C.1", "C.2"])
def test_cavage_signing_string_and_signature_are_reproduced(section: str) -> None:
    case = cavage_case(section)
    request = cavage_request("Authorization", case["authorization_header"])
    parsed = parse_signature(request.headers)
    target = request_target(request.method, request.path, request.query)
    signing_string = build_signing_string(
        parsed.covered, request_target=target, headers=request.headers
    )
    assert signing_string == case["signing_string"]
    assert rsa_sha256_sign(cavage_private_key(), signing_string.encode()) == case["signature"]
    assert parsed.signature == base64.b64decode(case["signature"])


def test_cavage_c3_signing_string_and_signature_as_printed() -> None:
    case = cavage_case("C.3")
    request = cavage_request("Authorization", case["authorization_header"])
    printed = [n for n in case["headers_param"].split() if n not in ("(created)", "(expires)")]
    target = request_target(request.method, request.path, request.query)
    signing_string = build_signing_string(printed, request_target=target, headers=request.headers)
    assert signing_string == case["signing_string"]
    assert rsa_sha256_sign(cavage_private_key(), signing_string.encode()) == case["signature"]
    key = cavage_public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    signature = base64.b64decode(case["signature"])
    key.verify(signature, signing_string.encode(), padding.PKCS1v15(), hashes.SHA256())
    # As published, it lists (created)/(expires) with rsa-sha256: refused like Mastodon does.
    at = request_date(request)
    code = refusal(lambda: verify(request, key, at, require_coverage=False))
    assert code == "signature_malformed"


# ------------------------------------------------------------------ RFC 9421 Appendix B


def rfc9421_case(label: str) -> dict[str, Any]:
    cases = json.loads(fixture("rfc9421", "vectors.json").read_text())["cases"]
    (case,) = [c for c in cases if c["label"] == label]
    return dict(case)


def rfc9421_request(label: str, message: str = "test-request.http") -> HttpRequest:
    case = rfc9421_case(label)
    return with_headers(
        read_request("rfc9421", message),
        Signature_Input=case["signature_input_header"],
        Signature=case["signature_header"],
    )


def rfc9421_public_key(name: str) -> PublicKey:
    return load_public_key(fixture("rfc9421", f"{name}.pub.pem").read_text())


def created_of(label: str) -> datetime:
    created = parse_signature(rfc9421_request(label).headers).created
    assert created is not None
    return datetime.fromtimestamp(created, UTC)


def verify_raw(algorithm: str, key_name: str, signature: bytes, base: bytes) -> None:
    """Independent check of a base against a published signature, per RFC 9421 section 3.3."""
    if algorithm == "hmac-sha256":
        secret = base64.b64decode(fixture("rfc9421", "test-shared-secret.b64.txt").read_text())
        mac = hmac.HMAC(secret, hashes.SHA256())
        mac.update(base)
        mac.verify(signature)
        return
    key = serialization.load_pem_public_key(fixture("rfc9421", f"{key_name}.pub.pem").read_bytes())
    if algorithm == "rsa-pss-sha512":
        assert isinstance(key, rsa.RSAPublicKey)
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA512()), salt_length=64)
        key.verify(signature, base, pss, hashes.SHA512())
    elif algorithm == "ecdsa-p256-sha256":
        assert isinstance(key, ec.EllipticCurvePublicKey)
        der = encode_dss_signature(int.from_bytes(signature[:32]), int.from_bytes(signature[32:]))
        key.verify(der, base, ec.ECDSA(hashes.SHA256()))
    else:
        assert algorithm == "ed25519"
        assert isinstance(key, ed25519.Ed25519PublicKey)
        key.verify(signature, base)


@pytest.mark.parametrize(
    ("label", "message"),
    [
        ("sig-b21", "test-request.http"),
        ("sig-b22", "test-request.http"),
        ("sig-b23", "test-request.http"),
        ("sig-b25", "test-request.http"),
        ("sig-b26", "test-request.http"),
        ("ttrp", "b3-proxy-unsigned-request.http"),
        ("transform", "b4-original.http"),
    ],
)
def test_rfc9421_signature_base_matches_the_published_one(label: str, message: str) -> None:
    case = rfc9421_case(label)
    request = rfc9421_request(label, message)
    parsed = parse_signature(request.headers)
    assert parsed.scheme == "rfc9421"
    assert parsed.label == label
    base = rfc9421_signature_base(
        parsed,
        method=request.method,
        path=request.path,
        query=request.query,
        headers=request.headers,
    )
    assert base == case["signature_base"].encode("ascii")
    verify_raw(case["algorithm"], case["key"], parsed.signature, base)


def test_rfc9421_b26_ed25519_verifies_but_lacks_content_digest_coverage() -> None:
    request = rfc9421_request("sig-b26")
    key = rfc9421_public_key("test-key-ed25519")
    verify(request, key, created_of("sig-b26"), require_coverage=False)
    assert refusal(lambda: verify(request, key, created_of("sig-b26"))) == "header_not_signed"
    late = created_of("sig-b26") + timedelta(hours=2)
    assert (
        refusal(lambda: verify(request, key, late, require_coverage=False)) == "signature_expired"
    )
    tampered = HttpRequest(request.method, request.path, request.query, request.headers, b"{}")
    code = refusal(lambda: verify(tampered, key, created_of("sig-b26"), require_coverage=False))
    assert code == "digest_mismatch"


@pytest.mark.parametrize("label", ["sig-b21", "sig-b22"])
def test_rfc9421_rsa_pss_vectors_without_our_coverage_are_refused(label: str) -> None:
    key = rfc9421_public_key("test-key-rsa-pss")
    code = refusal(lambda: verify(rfc9421_request(label), key, created_of(label)))
    assert code == "header_not_signed"


def test_rfc9421_rsa_pss_is_refused_cleanly() -> None:
    key = rfc9421_public_key("test-key-rsa-pss")
    # B.2.3 covers everything we require, but PSS is not PKCS#1 v1.5.
    full = rfc9421_request("sig-b23")
    assert refusal(lambda: verify(full, key, created_of("sig-b23"))) == "signature_invalid"
    named = with_headers(
        full,
        Signature_Input=rfc9421_case("sig-b23")["signature_input_header"] + ';alg="rsa-pss-sha512"',
    )
    assert refusal(lambda: verify(named, key, created_of("sig-b23"))) == "algorithm_unsupported"


@pytest.mark.parametrize("name", ["test-key-ecc-p256.pub.pem", "test-shared-secret.b64.txt"])
def test_rfc9421_keys_of_other_algorithms_are_refused(name: str) -> None:
    text = fixture("rfc9421", name).read_text()
    assert refusal(lambda: load_public_key(text)) == "key_invalid"


@pytest.mark.parametrize(
    "message", ["b4-original.http", "b4-valid-1.http", "b4-valid-2.http", "b4-valid-3.http"]
)
def test_rfc9421_b4_transformations_that_keep_the_signature(message: str) -> None:
    request = read_request("rfc9421", message)
    verify(request, rfc9421_public_key("test-key-ed25519"), created_of("transform"))


def test_rfc9421_repeated_fields_are_combined_in_order() -> None:
    request = read_request("rfc9421", "b4-original.http")
    # starlette's Headers lists repeated fields separately; give one line stray whitespace.
    raw = [
        (name.lower().encode(), (f"{value} " if name.lower() == "accept" else value).encode())
        for name, value in httpx.Headers(request.headers).multi_items()
    ]
    assert [n for n, _ in raw].count(b"accept") == 2
    spread = HttpRequest(request.method, request.path, request.query, Headers(raw=raw), b"")
    verify(spread, rfc9421_public_key("test-key-ed25519"), created_of("transform"))


def test_rfc9421_b4_invalid_1_does_not_verify() -> None:
    request = read_request("rfc9421", "b4-invalid-1.http")
    key = rfc9421_public_key("test-key-ed25519")
    assert refusal(lambda: verify(request, key, created_of("transform"))) == "header_not_signed"
    parsed = parse_signature(request.headers)
    base = rfc9421_signature_base(
        parsed,
        method=request.method,
        path=request.path,
        query=request.query,
        headers=request.headers,
    )
    assert isinstance(key, ed25519.Ed25519PublicKey)
    with pytest.raises(InvalidSignature):
        key.verify(parsed.signature, base)


def test_rfc9421_b4_invalid_2_does_not_verify() -> None:
    request = read_request("rfc9421", "b4-invalid-2.http")
    key = rfc9421_public_key("test-key-ed25519")
    assert refusal(lambda: verify(request, key, created_of("transform"))) == "signature_invalid"


# ------------------------------------------------------------------ RFC 9421 interop


@dataclass
class LibraryRequest:
    """The request shape http_message_signatures signs."""

    method: str
    url: str
    headers: dict[str, str]


def library_signed(
    algorithm: type[algorithms.HTTPSignatureAlgorithm],
    key_name: str,
    *,
    created: datetime,
    body: bytes | None = BODY,
    covered: tuple[str, ...] = ("@method", "@target-uri"),
) -> HttpRequest:
    pem = fixture("rfc9421", f"{key_name}.priv.pem").read_bytes()
    private = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey)
    resolver = MappingKeyResolver(public_keys={}, private_keys={key_name: private})
    message = LibraryRequest(
        "POST" if body is not None else "GET", f"{INBOX}?page=2", {"Host": "remote.example"}
    )
    signer = HTTPMessageSigner(signature_algorithm=algorithm, key_resolver=resolver)
    signer.sign(
        message,
        key_id=key_name,
        created=created,
        covered_component_ids=covered,
        body=body,
    )
    return HttpRequest(
        message.method, INBOX_PATH, "page=2", httpx.Headers(message.headers), body or b""
    )


@pytest.mark.parametrize(
    ("algorithm", "key_name"),
    [(algorithms.RSA_V1_5_SHA256, "test-key-rsa"), (algorithms.ED25519, "test-key-ed25519")],
)
def test_rfc9421_signed_by_another_implementation_verifies(
    algorithm: type[algorithms.HTTPSignatureAlgorithm], key_name: str
) -> None:
    key = rfc9421_public_key(key_name)
    request = library_signed(algorithm, key_name, created=NOW)
    verify(request, key, NOW)
    verify(library_signed(algorithm, key_name, created=NOW, body=None), key, NOW)
    tampered = HttpRequest(request.method, request.path, request.query, request.headers, b"{}")
    assert refusal(lambda: verify(tampered, key, NOW)) == "digest_mismatch"
    elsewhere = HttpRequest(request.method, "/other", request.query, request.headers, request.body)
    assert refusal(lambda: verify(elsewhere, key, NOW)) == "signature_invalid"
    assert (
        refusal(lambda: verify(request, key, NOW, authority="evil.example")) == "signature_invalid"
    )
    assert refusal(lambda: verify(request, key, NOW + timedelta(hours=2))) == "signature_expired"
    assert refusal(lambda: verify(request, key, NOW - timedelta(hours=2))) == "signature_expired"


@pytest.mark.parametrize(
    ("received", "accepted"),
    [
        ("remote.example", True),
        ("Remote.Example:443", True),
        ("remote.example:8443", False),
        ("other.example", False),
    ],
)
def test_rfc9421_authority_is_normalised(received: str, accepted: bool) -> None:
    request = library_signed(
        algorithms.ED25519,
        "test-key-ed25519",
        created=NOW,
        covered=("@method", "@authority", "@path"),
    )
    key = rfc9421_public_key("test-key-ed25519")
    if accepted:
        verify(request, key, NOW, authority=received)
    else:
        assert refusal(lambda: verify(request, key, NOW, authority=received)) == "signature_invalid"


def test_rfc9421_wrong_key_type_for_alg_is_unsupported() -> None:
    request = library_signed(algorithms.ED25519, "test-key-ed25519", created=NOW)
    code = refusal(lambda: verify(request, rfc9421_public_key("test-key-rsa"), NOW))
    assert code == "algorithm_unsupported"


@pytest.mark.parametrize(
    ("signature_input", "signature"),
    [
        (
            'a=("@method");created=1;keyid="k", b=("@method");created=1;keyid="k"',
            "a=:AAAA:, b=:AAAA:",
        ),
        ('a=("@method");created=1;keyid="k", b=("@method");created=1;keyid="k"', "a=:AAAA:"),
        ('a=("@method");keyid="k"', "a=:AAAA:"),
        ('a=("@method");created=1', "a=:AAAA:"),
        ('a=("@method");created=?1;keyid="k"', "a=:AAAA:"),
        ('a=("@method");created=1;keyid="k"', "b=:AAAA:"),
        ('a=("@method");created=1;keyid="k"', ""),
        ('a=("@Method");created=1;keyid="k"', "a=:AAAA:"),
        ('a=("@method" "@method");created=1;keyid="k"', "a=:AAAA:"),
        ('a="@method";created=1;keyid="k"', "a=:AAAA:"),
        ('a=("@method");created=1;keyid="k"', 'a="AAAA"'),
        ("not a dictionary", "a=:AAAA:"),
    ],
)
def test_rfc9421_malformed_headers(signature_input: str, signature: str) -> None:
    headers = {"Signature-Input": signature_input, "Signature": signature}
    assert refusal(lambda: parse_signature(headers)) == "signature_malformed"


# ------------------------------------------------------------------ cavage round trips


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def signed(
    *,
    method: str = "POST",
    url: str = INBOX,
    body: bytes | None = BODY,
    at: datetime = NOW,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    return sign_request(
        method=method,
        url=url,
        body=body,
        key_id=KEY_ID,
        private_key=rsa_key(),
        now=at,
        extra_headers=extra,
    )


def check(
    headers: Mapping[str, str],
    *,
    method: str = "POST",
    path: str = INBOX_PATH,
    query: str = "",
    body: bytes | None = BODY,
    key: PublicKey | None = None,
    now: datetime = NOW,
) -> None:
    verify_request(
        parse_signature(headers),
        method=method,
        path=path,
        query=query,
        headers=headers,
        body=body,
        public_key=key or rsa_key().public_key(),
        now=now,
    )


def refused(headers: Mapping[str, str], **request: Any) -> str:
    return refusal(lambda: check(headers, **request))


def hand_signed(
    headers: dict[str, str],
    names: list[str],
    *,
    method: str = "POST",
    path: str = INBOX_PATH,
    algorithm: str = "rsa-sha256",
    sign: Callable[[bytes], bytes] | None = None,
    created: int | None = None,
) -> dict[str, str]:
    target = request_target(method, path, "")
    text = build_signing_string(names, request_target=target, headers=headers, created=created)
    raw = (sign or sign_pkcs1)(text.encode())
    extra = f",created={created}" if created is not None else ""
    headers["Signature"] = (
        f'keyId="{KEY_ID}",algorithm="{algorithm}"{extra},headers="{" ".join(names)}",'
        f'signature="{base64.b64encode(raw).decode()}"'
    )
    return headers


def sign_pkcs1(data: bytes) -> bytes:
    return rsa_key().sign(data, padding.PKCS1v15(), hashes.SHA256())


def base_headers(body: bytes | None = BODY, *, digest: str | None = None) -> dict[str, str]:
    headers = {"Host": "remote.example", "Date": http_date(NOW)}
    if body is not None:
        headers["Digest"] = digest or digest_header(body)
    return headers


def test_sign_request_post_headers_and_round_trip() -> None:
    headers = signed(extra={"Content-Type": "application/activity+json"})
    assert headers["Host"] == "remote.example"
    assert headers["Date"] == "Thu, 10 Jan 2030 09:00:00 GMT"
    assert headers["Digest"] == digest_header(BODY)
    assert headers["Content-Type"] == "application/activity+json"
    parsed = parse_signature(headers)
    assert (parsed.scheme, parsed.key_id, parsed.algorithm) == ("cavage", KEY_ID, "rsa-sha256")
    assert parsed.covered == ("(request-target)", "host", "date", "digest")
    check(headers)


def test_sign_request_get_round_trip() -> None:
    headers = signed(method="GET", url=f"{INBOX}?page=true", body=None)
    assert "Digest" not in headers
    assert parse_signature(headers).covered == ("(request-target)", "host", "date")
    check(headers, method="GET", query="page=true", body=None)


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://remote.example:443/inbox", "remote.example"),
        ("http://remote.example:80/inbox", "remote.example"),
        ("https://remote.example:8443/inbox", "remote.example:8443"),
        ("http://Remote.Example:8080/inbox", "remote.example:8080"),
        ("https://[2001:db8::1]:8443/inbox", "[2001:db8::1]:8443"),
    ],
)
def test_sign_request_host_carries_only_non_default_ports(url: str, host: str) -> None:
    headers = signed(url=url)
    assert headers["Host"] == host
    check(headers, path="/inbox")


def test_sign_request_refuses_to_override_what_it_computes() -> None:
    with pytest.raises(ValueError, match="host"):
        signed(extra={"host": "elsewhere.example"})


def test_body_changed_after_signing() -> None:
    assert refused(signed(), body=BODY + b" ") == "digest_mismatch"


def test_digest_header_absent_on_post() -> None:
    headers = signed()
    del headers["Digest"]
    assert refused(headers) == "digest_missing"


def test_digest_not_in_signed_headers() -> None:
    headers = hand_signed(base_headers(), ["(request-target)", "host", "date"])
    assert refused(headers) == "header_not_signed"


def test_signature_by_another_key() -> None:
    assert refused(signed(), key=other_rsa_key().public_key()) == "signature_invalid"


@pytest.mark.parametrize("offset", [timedelta(hours=-2), timedelta(hours=2)])
def test_date_outside_the_window(offset: timedelta) -> None:
    assert refused(signed(at=NOW + offset)) == "signature_expired"


@pytest.mark.parametrize("offset", [timedelta(hours=-1, minutes=-4), timedelta(minutes=59)])
def test_date_inside_the_window(offset: timedelta) -> None:
    check(signed(at=NOW + offset))


def test_unknown_algorithm() -> None:
    headers = signed()
    headers["Signature"] = headers["Signature"].replace('"rsa-sha256"', '"rsa-sha512"')
    assert refused(headers) == "algorithm_unsupported"


@pytest.mark.parametrize(
    "value",
    [
        "",
        'keyId="k"',
        'signature="AAAA"',
        'keyId="k",signature="not base64!"',
        'keyId="k",keyId="j",signature="AAAA"',
        'keyId="k" signature="AAAA"',
        'keyId="k",signature="AAAA",headers=""',
        'keyId=k,signature="AAAA"',
    ],
)
def test_malformed_signature_header(value: str) -> None:
    assert refusal(lambda: parse_signature({"Signature": value})) == "signature_malformed"


def test_no_signature_at_all() -> None:
    assert refusal(lambda: parse_signature({"Host": "remote.example"})) == "signature_missing"
    authorization = {"Authorization": "Bearer abc"}
    assert refusal(lambda: parse_signature(authorization)) == "signature_missing"


def test_wrong_host() -> None:
    headers = signed()
    headers["Host"] = "evil.example"
    assert refused(headers) == "signature_invalid"


def test_query_less_target_still_verifies_when_the_request_has_a_query() -> None:
    check(signed(), query="page=2")


def test_host_signed_without_port_verifies_when_received_with_port() -> None:
    headers = signed()
    headers["Host"] = "remote.example:8443"
    check(headers)
    headers["Host"] = "other.example:8443"
    assert refused(headers) == "signature_invalid"


def test_repeated_signed_header_is_joined_with_comma() -> None:
    names = ["(request-target)", "host", "date", "digest", "accept"]
    headers = hand_signed({**base_headers(), "Accept": "a/b, c/d"}, names)
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items() if k != "Accept"]
    raw += [(b"accept", b"a/b "), (b"accept", b"c/d")]
    check(Headers(raw=raw))
    raw[-2:] = [(b"accept", b"c/d"), (b"accept", b"a/b")]
    assert refused(Headers(raw=raw)) == "signature_invalid"


@pytest.mark.parametrize("algorithm_name", ["SHA-256", "sha-256"])
def test_digest_algorithm_name_case(algorithm_name: str) -> None:
    digest = digest_header(BODY).replace("SHA-256", algorithm_name)
    headers = hand_signed(
        base_headers(digest=digest), ["(request-target)", "host", "date", "digest"]
    )
    check(headers)


@pytest.mark.parametrize(
    ("method", "names"),
    [
        ("GET", ["(request-target)", "date"]),
        ("GET", ["host", "date"]),
        ("POST", ["(request-target)", "host", "digest"]),
    ],
)
def test_required_coverage(method: str, names: list[str]) -> None:
    body = BODY if method == "POST" else None
    headers = hand_signed(base_headers(body), names, method=method)
    assert refused(headers, method=method, body=body) == "header_not_signed"


def test_unparseable_date() -> None:
    headers = base_headers()
    headers["Date"] = "yesterday"
    signed_headers = hand_signed(headers, ["(request-target)", "host", "date", "digest"])
    assert refused(signed_headers) == "signature_malformed"


def test_hs2019_with_rsa_and_ed25519_keys() -> None:
    names = ["(request-target)", "host", "date", "digest"]
    check(hand_signed(base_headers(), names, algorithm="hs2019"))
    ed_key = ed25519.Ed25519PrivateKey.generate()
    headers = hand_signed(base_headers(), names, algorithm="hs2019", sign=ed_key.sign)
    check(headers, key=ed_key.public_key())
    headers = hand_signed(base_headers(), names, algorithm="rsa-sha256", sign=ed_key.sign)
    assert refused(headers, key=ed_key.public_key()) == "algorithm_unsupported"


def test_created_pseudo_header_only_with_hs2019() -> None:
    names = ["(request-target)", "host", "(created)", "digest"]
    created = int(NOW.timestamp())
    check(hand_signed(base_headers(), names, algorithm="hs2019", created=created))
    headers = hand_signed(base_headers(), names, algorithm="rsa-sha256", created=created)
    assert refused(headers) == "signature_malformed"
    stale = hand_signed(base_headers(), names, algorithm="hs2019", created=created - 3 * 3600)
    assert refused(stale) == "signature_expired"


# ------------------------------------------------------------------ keys


def public_pem(key: rsa.RSAPublicKey | ed25519.Ed25519PublicKey) -> str:
    return key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def test_load_public_key() -> None:
    assert isinstance(load_public_key(public_pem(rsa_key().public_key())), rsa.RSAPublicKey)
    ed = ed25519.Ed25519PrivateKey.generate().public_key()
    assert isinstance(load_public_key(public_pem(ed)), ed25519.Ed25519PublicKey)
    small = fixture("cavage-12", "test-key-rsa.pub.pem").read_text()
    assert refusal(lambda: load_public_key(small)) == "key_invalid"
    assert isinstance(load_public_key(small, min_rsa_bits=1024), rsa.RSAPublicKey)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a key",
        "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----",
        "private key",
    ],
)
def test_load_public_key_refuses_garbage(text: str) -> None:
    if text == "private key":
        text = fixture("cavage-12", "test-key-rsa.priv.pem").read_text()
    assert refusal(lambda: load_public_key(text)) == "key_invalid"


# ------------------------------------------------------------------ properties

SEGMENTS = st.text(alphabet=string.ascii_letters + string.digits + "-._~%", min_size=1, max_size=12)
PATHS = st.lists(SEGMENTS, max_size=4).map(lambda segments: "/" + "/".join(segments))
QUERIES = st.text(alphabet=string.ascii_letters + string.digits + "=&", max_size=20)


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=512), path=PATHS, query=QUERIES)
def test_sign_then_verify(body: bytes, path: str, query: str) -> None:
    url = f"https://remote.example{path}" + (f"?{query}" if query else "")
    check(signed(url=url, body=body), path=path, query=query, body=body)


@settings(max_examples=60, deadline=None)
@given(data=st.data(), body=st.binary(min_size=1, max_size=512))
def test_flipping_any_body_byte_fails(data: st.DataObject, body: bytes) -> None:
    index = data.draw(st.integers(0, len(body) - 1))
    mask = data.draw(st.integers(1, 255))
    tampered = bytearray(body)
    tampered[index] ^= mask
    assert refused(signed(body=body), body=bytes(tampered)) == "digest_mismatch"
