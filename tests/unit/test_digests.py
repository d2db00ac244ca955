"""Body digests against the RFC 9530 vectors, and the Digest header as the fediverse sends it."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.datastructures import Headers

from kunveno.adapters.activitypub.digests import (
    content_digest_header,
    digest_header,
    verify_body_digests,
)
from kunveno.adapters.activitypub.signatures import SignatureError

FIXTURES = Path(__file__).resolve().parents[3] / "shared" / "fixtures"
HELLO = b'{"hello": "world"}'


def digest_vectors() -> dict[str, Any]:
    path = FIXTURES / "signatures" / "rfc9530" / "digests.json"
    if not path.is_file():
        pytest.fail(
            f"RFC 9530 vectors not found at {path}: check out shared/ beside the repository"
        )
    vectors: dict[str, Any] = json.loads(path.read_text())
    return vectors


def case_input(case: dict[str, Any]) -> bytes | None:
    if "input" in case:
        return str(case["input"]).encode("utf-8")
    if "input_hex" in case:
        return bytes.fromhex(case["input_hex"])
    return None


def refuse(headers: Mapping[str, str], body: bytes, *, required: bool = False) -> str:
    with pytest.raises(SignatureError) as caught:
        verify_body_digests(headers, body, required=required)
    return caught.value.code


# ------------------------------------------------------------------------- RFC 9530 vectors


def test_appendix_d_sha256_and_sha512_recompute() -> None:
    appendix = digest_vectors()["appendix_d_sample_digest_values"]
    body = str(appendix["input"]).encode("utf-8")
    values = appendix["values"]
    assert content_digest_header(body) == f"sha-256=:{values['sha-256']}:"
    assert digest_header(body) == f"SHA-256={values['sha-256']}"
    for algorithm in ("sha-256", "sha-512"):
        verify_body_digests(
            {"Content-Digest": f"{algorithm}=:{values[algorithm]}:"}, body, required=True
        )
        verify_body_digests(
            {"Digest": f"{algorithm.upper()}={values[algorithm]}"}, body, required=True
        )
        assert refuse({"Content-Digest": f"{algorithm}=:{values[algorithm]}:"}, body + b"\n") == (
            "digest_mismatch"
        )


def test_appendix_d_deprecated_algorithms_are_ignored_but_not_enough() -> None:
    values = digest_vectors()["appendix_d_sample_digest_values"]["values"]
    deprecated = f"MD5={values['md5']}, SHA={values['sha']}"
    assert refuse({"Digest": deprecated}, HELLO) == "digest_malformed"
    verify_body_digests(
        {"Digest": f"{deprecated}, SHA-256={values['sha-256']}"}, HELLO, required=True
    )
    content = f"md5=:{values['md5']}:, sha-256=:{values['sha-256']}:"
    verify_body_digests({"Content-Digest": content}, HELLO, required=True)


def valid_cases() -> list[dict[str, Any]]:
    return [
        c for c in digest_vectors()["cases"] if "known_issue" not in c and case_input(c) is not None
    ]


def test_every_valid_published_value_recomputes() -> None:
    cases = valid_cases()
    assert len(cases) >= 7, "the vector file lost its valid cases"
    for case in cases:
        body = case_input(case)
        assert body is not None
        verify_body_digests({"Content-Digest": case["value"]}, body, required=True)
        assert refuse({"Content-Digest": case["value"]}, body + b"x") == "digest_mismatch", case


def test_flagged_values_are_refused() -> None:
    flagged = [c for c in digest_vectors()["cases"] if "known_issue" in c]
    assert flagged, "the vector file lost its flagged cases"
    for case in flagged:
        body = case_input(case)
        if body is None:
            # No bytes were printed for these: refused either as unparseable or as wrong.
            code = refuse({"Content-Digest": case["value"]}, HELLO + b"\n")
            assert code in ("digest_malformed", "digest_mismatch"), case
        else:
            assert refuse({"Content-Digest": case["value"]}, body) == "digest_mismatch", case


def test_doubled_padding_is_malformed_even_though_it_decodes() -> None:
    (doubled,) = [c["value"] for c in digest_vectors()["cases"] if "FabDg==:" in c["value"]]
    encoded = doubled.split(":")[1]
    # Python's lenient decoder accepts it, which is why the check has to be explicit.
    assert base64.b64decode(encoded) == hashlib.sha256(HELLO + b"\n").digest()
    assert refuse({"Content-Digest": doubled}, HELLO + b"\n") == "digest_malformed"
    assert refuse({"Digest": f"SHA-256={encoded}"}, HELLO + b"\n") == "digest_malformed"


def test_parse_only_dictionary_is_checked_member_by_member() -> None:
    two = [c for c in digest_vectors()["cases"] if "note" in c and "," in c["value"]]
    assert two
    # Its sha-512 matches the body but its sha-256 does not: every member counts.
    assert refuse({"Content-Digest": two[0]["value"]}, HELLO + b"\n") == "digest_mismatch"


# ------------------------------------------------------------------------- Digest header


@pytest.mark.parametrize("name", ["SHA-256", "sha-256", "Sha-256"])
def test_digest_algorithm_names_compare_case_insensitively(name: str) -> None:
    value = digest_header(HELLO).split("=", 1)[1]
    verify_body_digests({"Digest": f"{name}={value}"}, HELLO, required=True)


@pytest.mark.parametrize("field", ["digest", "DIGEST", "Digest"])
def test_header_names_are_looked_up_case_insensitively(field: str) -> None:
    verify_body_digests({field: digest_header(HELLO)}, HELLO, required=True)
    assert refuse({field: digest_header(HELLO)}, b"other") == "digest_mismatch"


@pytest.mark.parametrize(
    "value",
    [
        "SHA-256",
        "=abc",
        "SHA-256=not base64!",
        "SHA-256=" + base64.b64encode(b"short").decode(),
        "SHA-256=" + base64.b64encode(hashlib.sha256(HELLO).digest()).decode().rstrip("="),
        "SHA-512=" + base64.b64encode(hashlib.sha256(HELLO).digest()).decode(),
        "UNIXSUM=GQU=",
    ],
)
def test_malformed_digest_header(value: str) -> None:
    assert refuse({"Digest": value}, HELLO) == "digest_malformed"


@pytest.mark.parametrize(
    "value",
    [
        "SHA-256=:" + base64.b64encode(hashlib.sha256(HELLO).digest()).decode() + ":",
        "sha-256=" + base64.b64encode(hashlib.sha256(HELLO).digest()).decode(),
        "sha-256=:" + base64.b64encode(b"short").decode() + ":",
        "sha-256=?1",
        "",
        "md5=:Sd/dVLAcvNLSq16eXua5uQ==:",
    ],
)
def test_malformed_content_digest(value: str) -> None:
    assert refuse({"Content-Digest": value}, HELLO) == "digest_malformed"


def test_both_headers_are_checked() -> None:
    good, bad = digest_header(HELLO), digest_header(b"other")
    verify_body_digests(
        {"Digest": good, "Content-Digest": content_digest_header(HELLO)}, HELLO, required=True
    )
    assert refuse({"Digest": good, "Content-Digest": content_digest_header(b"x")}, HELLO) == (
        "digest_mismatch"
    )
    assert refuse({"Digest": bad, "Content-Digest": content_digest_header(HELLO)}, HELLO) == (
        "digest_mismatch"
    )


def test_every_member_is_checked_not_just_the_first() -> None:
    sha512_of_other = base64.b64encode(hashlib.sha512(b"other").digest()).decode()
    content = f"{content_digest_header(HELLO)}, sha-512=:{sha512_of_other}:"
    assert refuse({"Content-Digest": content}, HELLO) == "digest_mismatch"
    digest = f"{digest_header(HELLO)},SHA-512={sha512_of_other}"
    assert refuse({"Digest": digest}, HELLO) == "digest_mismatch"


def test_absent_digest_only_fails_when_required() -> None:
    verify_body_digests({"Content-Type": "application/json"}, HELLO, required=False)
    assert refuse({}, HELLO, required=True) == "digest_missing"


def test_repeated_fields_in_real_header_containers_are_all_checked() -> None:
    good, bad = digest_header(HELLO), digest_header(b"other")
    raw = [(b"digest", good.encode()), (b"digest", bad.encode())]
    assert refuse(Headers(raw=raw), HELLO) == "digest_mismatch"
    assert refuse(httpx.Headers([("Digest", good), ("Digest", bad)]), HELLO) == "digest_mismatch"
    verify_body_digests(httpx.Headers([("Digest", good)]), HELLO, required=True)
