"""Live kernel audit records from the audit netlink socket's read-only multicast group.

Binding NETLINK_AUDIT to the group AUDIT_NLGRP_READLOG (1) receives a copy of every record the
kernel emits, whether or not auditd runs, without taking auditd's place (that would be
AUDIT_SET with a pid). It needs CAP_AUDIT_READ in the initial user namespace.
"""

from __future__ import annotations

import errno
import select
import socket
import struct

from stockade.audit.readers.parser import RawRecord, parse_payload
from stockade.errors import StockadeError, UnsupportedError

NETLINK_AUDIT = 9
AUDIT_NLGRP_READLOG = 1
_NLMSGHDR = struct.Struct("=IHHII")  # len, type, flags, seq, pid
NLMSG_ERROR = 2
NLMSG_DONE = 3


def _align(n: int) -> int:
    return (n + 3) & ~3


def split_messages(data: bytes) -> list[tuple[int, bytes]]:
    """(type, payload) of each netlink message in one datagram."""
    out: list[tuple[int, bytes]] = []
    offset = 0
    while offset + _NLMSGHDR.size <= len(data):
        length, type_, _flags, _seq, _pid = _NLMSGHDR.unpack_from(data, offset)
        if length < _NLMSGHDR.size:
            # the audit subsystem sometimes sets nlmsg_len to the payload length only
            length = len(data) - offset
        end = min(offset + length, len(data))
        out.append((type_, data[offset + _NLMSGHDR.size:end]))
        offset += _align(length)
    return out


class AuditMulticast:
    """A reader of the kernel's audit multicast group; `read()` returns parsed records."""

    def __init__(self, rcvbuf: int = 1 << 22) -> None:
        try:
            sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_AUDIT)
        except OSError as err:
            raise UnsupportedError(f"no audit netlink socket: {err.strerror} "
                                   "(the kernel lacks CONFIG_AUDIT)") from None
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.bind((0, 1 << (AUDIT_NLGRP_READLOG - 1)))
        except PermissionError:
            sock.close()
            raise StockadeError("reading live audit records needs CAP_AUDIT_READ "
                                "(run as root, or read the audit log instead)") from None
        except OSError as err:
            sock.close()
            raise StockadeError(f"cannot join the audit multicast group: {err.strerror}") from None
        self._sock = sock
        self.lost = 0  # datagrams the kernel dropped because we were too slow (ENOBUFS)

    def fileno(self) -> int:
        """The socket's descriptor, for select/poll."""
        return self._sock.fileno()

    def read(self, timeout: float | None = 0.0) -> list[RawRecord]:
        """The records waiting now (after at most `timeout` seconds if none are)."""
        records: list[RawRecord] = []
        ready, _, _ = select.select([self._sock], [], [], timeout)
        if not ready:
            return records
        while True:
            try:
                data = self._sock.recv(1 << 16, socket.MSG_DONTWAIT)
            except BlockingIOError:
                break
            except OSError as err:
                if err.errno == errno.ENOBUFS:
                    self.lost += 1
                    continue
                raise
            for type_, payload in split_messages(data):
                if type_ in (NLMSG_ERROR, NLMSG_DONE):
                    continue
                rec = parse_payload(type_, payload.decode("utf-8", "replace"))
                if rec is not None:
                    records.append(rec)
        return records

    def close(self) -> None:
        """Leave the group."""
        self._sock.close()
