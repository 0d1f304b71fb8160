"""stockade.digest (the plan cache's fingerprints and MAC, without OpenSSL) gives what the
standard library's BLAKE2b gives, and the MAC depends on the key."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import pytest

from stockade import digest


def test_digests_are_hashlib_blake2b_256() -> None:
    for data in (b"", b"abc", os.urandom(100_000)):
        assert digest.hexdigest(data) == hashlib.blake2b(data, digest_size=32).hexdigest()
        h = digest.hasher()
        h.update(data[:7])
        h.update(data[7:])
        assert h.hexdigest() == digest.hexdigest(data)
        key = os.urandom(32)
        assert digest.mac(key, data) == \
            hashlib.blake2b(data, digest_size=32, key=key).hexdigest().encode()
        assert digest.mac(key, data) != digest.mac(os.urandom(32), data)
        assert len(digest.mac(key, data)) == 64


def test_mac_keys_and_comparison() -> None:
    for bad in (b"", b"k" * 65):
        with pytest.raises(ValueError):
            digest.mac(bad, b"data")
    good = digest.mac(b"k" * 64, b"data")
    assert digest.equal(good, bytes(good))
    assert not digest.equal(good, good[:-1] + b"0" if good[-1:] != b"0" else good[:-1] + b"1")


def test_importing_it_loads_no_openssl() -> None:
    probe = "import sys, stockade.digest; print('_hashlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert out.strip() == "False"
