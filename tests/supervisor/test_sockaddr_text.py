"""The supervisor's address text (handlers/other.py parse_sockaddr) is ipaddress's, which it
no longer imports: the text reaches modules, decisions and audit records."""

from __future__ import annotations

import ipaddress
import socket
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from stockade.enforce.supervisor.handlers.other import ipv6_text, parse_sockaddr

# groups biased to zero, so that runs of zeros of every length and position come up
groups = st.lists(st.one_of(st.just(0), st.just(0), st.integers(0, 0xFFFF)), min_size=8,
                  max_size=8)


@settings(max_examples=3000, deadline=None)
@given(groups)
def test_ipv6_text_is_ipaddress(hextets: list[int]) -> None:
    raw = struct.pack("!8H", *hextets)
    assert ipv6_text(raw) == str(ipaddress.IPv6Address(raw))


@settings(max_examples=500, deadline=None)
@given(st.binary(min_size=4, max_size=4), st.integers(0, 0xFFFF), groups)
def test_sockaddrs_name_what_ipaddress_names(v4: bytes, port: int, hextets: list[int]) -> None:
    raw4 = struct.pack("=H", socket.AF_INET) + struct.pack("!H", port) + v4 + bytes(8)
    assert parse_sockaddr(raw4) == (socket.AF_INET, str(ipaddress.IPv4Address(v4)), port)
    v6 = struct.pack("!8H", *hextets)
    raw6 = struct.pack("=H", socket.AF_INET6) + struct.pack("!H", port) + bytes(4) + v6 + bytes(4)
    assert parse_sockaddr(raw6) == (socket.AF_INET6, str(ipaddress.IPv6Address(v6)), port)


def test_examples() -> None:
    for text in ("::", "::1", "1::", "1:0:0:1::", "::ffff:102:304", "fe80::1:0:0:0",
                 "2001:db8::1:0:0:1", "1:2:3:4:5:6:7:8", "1:0:2:0:3:0:4:0"):
        assert ipv6_text(ipaddress.IPv6Address(text).packed) == text
