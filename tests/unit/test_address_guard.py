"""The SSRF address classifier (SECURITY.md I-4): a pure function, so nothing here connects."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kunveno.adapters.activitypub.fetching import is_forbidden_address

FORBIDDEN = [
    "10.0.0.1",
    "172.16.5.4",
    "172.31.255.255",
    "192.168.1.1",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "0.0.0.0",
    "0.1.2.3",
    "255.255.255.255",
    "224.0.0.1",
    "239.255.255.250",
    "240.0.0.1",
    "198.18.0.1",  # benchmarking
    "198.19.255.254",
    "192.0.0.8",
    "192.0.2.1",  # documentation
    "198.51.100.7",
    "203.0.113.9",
    "192.88.99.1",  # 6to4 relay anycast
    "::",
    "::1",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::127.0.0.1",  # IPv4-compatible (deprecated)
    "::8.8.8.8",
    "64:ff9b::a00:1",  # NAT64 to 10.0.0.1
    "64:ff9b::7f00:1",
    "64:ff9b:1::a00:1",  # local-use NAT64, /96 layout
    "64:ff9b:1:ab::808:808",  # local-use NAT64, ambiguous layout
    "2002:a00:1::1",  # 6to4 of 10.0.0.1
    "2002:7f00:1::",
    "2001::1",  # Teredo
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:db8::1",
    "3fff::1",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "fec0::1",
    "ff02::1",
    "100::1",  # discard
    "5f00::1",
]

ALLOWED = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "2606:4700:4700::1111",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
    "64:ff9b:1::808:808",
    "2002:808:808::1",
]

PRIVATE_V4 = [
    ipaddress.IPv4Network(net)
    for net in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "224.0.0.0/4",
        "240.0.0.0/4",
    )
]

PRIVATE_V6 = [
    ipaddress.IPv6Network(net)
    for net in ("fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8", "2001::/32", "2001:db8::/32")
]


@pytest.mark.parametrize("text", FORBIDDEN)
def test_forbidden(text: str) -> None:
    assert is_forbidden_address(ipaddress.ip_address(text))


@pytest.mark.parametrize("text", ALLOWED)
def test_allowed(text: str) -> None:
    assert not is_forbidden_address(ipaddress.ip_address(text))


def _address_in(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> st.SearchStrategy[int]:
    return st.integers(int(network.network_address), int(network.broadcast_address))


@given(st.sampled_from(PRIVATE_V4).flatmap(_address_in))
def test_every_private_ipv4_is_forbidden_also_when_mapped(value: int) -> None:
    ip = ipaddress.IPv4Address(value)
    assert is_forbidden_address(ip)
    assert is_forbidden_address(ipaddress.IPv6Address(f"::ffff:{ip}"))
    assert is_forbidden_address(ipaddress.IPv6Address((0x64FF9B << 96) | value))  # NAT64
    assert is_forbidden_address(ipaddress.IPv6Address((0x2002 << 112) | (value << 80)))  # 6to4


@given(st.sampled_from(PRIVATE_V6).flatmap(_address_in))
def test_every_address_in_a_non_global_ipv6_range_is_forbidden(value: int) -> None:
    assert is_forbidden_address(ipaddress.IPv6Address(value))
