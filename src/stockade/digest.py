"""BLAKE2b-256 digests without OpenSSL: the plan cache's fingerprints (file contents,
directory listings, the compiler's sources, entry names) and its MAC.

`hashlib` and `hmac` load OpenSSL when imported (about 4 ms of a plan cache hit's start-up,
measured); CPython's own BLAKE2 module does not. Keyed BLAKE2b is a MAC by design (RFC 7693,
section 2.9: the key is the first block), so no HMAC construction is needed. Without the
private module (another Python), hashlib's blake2b gives the same digests.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

try:
    from _blake2 import blake2b
except ImportError:  # pragma: no cover - CPython always has it
    from hashlib import blake2b
try:
    from _operator import _compare_digest as equal
except ImportError:  # pragma: no cover
    from hmac import compare_digest as equal

SIZE = 32  # bytes: 64 hex digits, as SHA-256's
KEY_LIMIT = 64  # BLAKE2b takes keys of at most 64 bytes

__all__ = ["SIZE", "equal", "hasher", "hexdigest", "mac"]


def hexdigest(data: bytes) -> str:
    """The BLAKE2b-256 digest of `data`, in hex."""
    return blake2b(data, digest_size=SIZE).hexdigest()


def hasher() -> Any:
    """An incremental BLAKE2b-256 (update(), hexdigest())."""
    return blake2b(digest_size=SIZE)


def mac(key: bytes, data: bytes | memoryview) -> bytes:
    """The keyed BLAKE2b-256 of `data` under `key` (1 to 64 bytes), in hex (ASCII bytes);
    compare with `equal`, which takes the same time wherever the digests differ."""
    if not 0 < len(key) <= KEY_LIMIT:
        raise ValueError("a MAC key has 1 to 64 bytes")
    return blake2b(data, digest_size=SIZE, key=key).hexdigest().encode()
