"""The plan cache's MAC key, kept in the kernel's per-user keyring (`@u`).

A sandboxed program cannot read it: the baseline seccomp filter refuses add_key, keyctl and
request_key. A sandbox that may use the keyring (--allow-keyring, or a profile whose rules
unlock it) could read the key and plant one of its own: while such a sandbox may live, no run
trusts the key (marks.py); `forget` drops it before such a program starts and again after its
last process ends, so that entries made with a key it knew are refused. `serial()` names the
key a run read, so that it can check the key was not dropped (and so not exposed) meanwhile.
"""

from __future__ import annotations

import ctypes
import errno
import os

DESCRIPTION = b"stockade:plan-cache:v1"
KEY_BYTES = 32
_KEY_SPEC_USER_KEYRING = -4
_KEYCTL_SEARCH, _KEYCTL_READ, _KEYCTL_INVALIDATE = 10, 11, 21

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _nr(name: str) -> int:
    from stockade.enforce.seccomp import resolve_syscall

    return resolve_syscall(name)


def _search() -> int | None:
    serial = _libc.syscall(_nr("keyctl"), ctypes.c_long(_KEYCTL_SEARCH),
                           ctypes.c_long(_KEY_SPEC_USER_KEYRING), b"user", DESCRIPTION,
                           ctypes.c_long(0))
    return int(serial) if serial >= 0 else None


def _read(serial: int) -> bytes | None:
    buf = ctypes.create_string_buffer(KEY_BYTES + 1)
    n = _libc.syscall(_nr("keyctl"), ctypes.c_long(_KEYCTL_READ), ctypes.c_long(serial), buf,
                      ctypes.c_long(len(buf)))
    return buf.raw[:KEY_BYTES] if n == KEY_BYTES else None


def serial() -> int | None:
    """The serial number of the key that `key` would read now (None: there is none)."""
    return _search()


def key(create: bool) -> bytes | None:
    """The key (made if missing and `create`); None when the keyring cannot be used."""
    found = held(create)
    return found[1] if found is not None else None


def held(create: bool) -> tuple[int, bytes] | None:
    """The key and its serial number (made if missing and `create`); None when the keyring
    cannot be used."""
    serial = _search()
    if serial is not None:
        found = _read(serial)
        if found is not None:
            return serial, found
        forget()  # not one of ours (wrong size): replace it
    if not create:
        return None
    secret = os.urandom(KEY_BYTES)
    made = _libc.syscall(_nr("add_key"), b"user", DESCRIPTION, secret,
                         ctypes.c_size_t(KEY_BYTES), ctypes.c_long(_KEY_SPEC_USER_KEYRING))
    return (int(made), secret) if made >= 0 else None


def forget() -> bool:
    """Invalidate every key of ours in the user keyring (each entry made with them is then
    refused); False when one is left (it could not be invalidated, or more keep appearing)."""
    for _ in range(4096):  # a program may have planted many; after its end none appear
        found = _search()
        if found is None:
            return True
        if _libc.syscall(_nr("keyctl"), ctypes.c_long(_KEYCTL_INVALIDATE),
                         ctypes.c_long(found)) != 0 and ctypes.get_errno() != errno.ENOKEY:
            return False
    return False
