"""Kernel object classes and file permissions for SELinux checks (security/selinux/hooks.c)."""

from __future__ import annotations

import socket
import stat

from stockade.lsm.types import MAY_APPEND, MAY_EXEC, MAY_OPEN, MAY_READ, MAY_WRITE

_INET_CLASSES = {socket.SOCK_STREAM: "tcp_socket", socket.SOCK_DGRAM: "udp_socket",
                 socket.SOCK_RAW: "rawip_socket"}
_FAMILY_CLASSES = {socket.AF_NETLINK: "netlink_socket", socket.AF_PACKET: "packet_socket",
                   getattr(socket, "AF_VSOCK", 40): "vsock_socket", 15: "key_socket",
                   getattr(socket, "AF_BLUETOOTH", 31): "bluetooth_socket"}


def file_class(mode: int) -> str:
    """inode_mode_to_security_class()."""
    fmt = stat.S_IFMT(mode)
    return {stat.S_IFDIR: "dir", stat.S_IFLNK: "lnk_file", stat.S_IFCHR: "chr_file",
            stat.S_IFBLK: "blk_file", stat.S_IFIFO: "fifo_file",
            stat.S_IFSOCK: "sock_file"}.get(fmt, "file")


def socket_class(family: int, sock_type: int) -> str:
    """socket_type_to_security_class() with the extended_socket_class capability."""
    if family == socket.AF_UNIX:
        return "unix_dgram_socket" if sock_type == socket.SOCK_DGRAM else "unix_stream_socket"
    if family in (socket.AF_INET, socket.AF_INET6):
        return _INET_CLASSES.get(sock_type, "socket")
    return _FAMILY_CLASSES.get(family, "socket")


def file_perms(access: int, is_dir: bool, *, with_open: bool) -> list[str]:
    """MAY_* bits as file permissions (file_mask_to_av, plus `open` on opens)."""
    perms: list[str] = []
    if access & MAY_EXEC:
        perms.append("search" if is_dir else "execute")
    if access & MAY_READ:
        perms.append("read")
    if access & MAY_APPEND:
        perms.append("append")
    elif access & MAY_WRITE:
        perms.append("write")
    if with_open and access & MAY_OPEN:
        perms.append("open")
    return perms
