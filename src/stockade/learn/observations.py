"""Supervisor observations (enforce/supervisor/observe.py) → the accesses genprof works from."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable

from stockade.learn.proposals import Access
from stockade.policy.constants import signal_name

_OPEN_LETTERS = {"read": "r", "write": "w", "append": "a"}
_WRITES = {"create", "unlink", "rmdir", "mkdir", "rename", "symlink", "mknod", "chmod", "chown"}
_TYPES = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram", socket.SOCK_RAW: "raw",
          socket.SOCK_SEQPACKET: "seqpacket"}
_FAMILIES = {socket.AF_INET: "inet", socket.AF_INET6: "inet6", socket.AF_UNIX: "unix",
             socket.AF_NETLINK: "netlink", socket.AF_PACKET: "packet"}


def _open(path: str, access: list[str]) -> Access:
    letters = {_OPEN_LETTERS[a] for a in access if a in _OPEN_LETTERS}
    if "a" in letters:
        letters.discard("w")  # O_APPEND|O_WRONLY needs only 'a'
    is_dir = os.path.isdir(path)
    return Access("file", path=path, letters="".join(sorted(letters)) or "r", is_dir=is_dir)


#: the kernel reads this much of a file for `#!` (BINPRM_BUF_SIZE) and follows this many
#: interpreters of interpreters (binfmt_script, BINPRM_MAX_RECURSION)
_BINPRM_BUF = 256
_MAX_RECURSION = 4


def interpreters(path: str) -> list[str]:
    """The interpreters the kernel also executes when `path` is a `#!` script (resolved, in
    order): exec of a script opens its interpreter with exec rights too, which no system call
    of the program shows."""
    found: list[str] = []
    for _ in range(_MAX_RECURSION):
        try:
            with open(path, "rb") as f:
                head = f.read(_BINPRM_BUF)
        except OSError:
            break
        if not head.startswith(b"#!"):
            break
        words = head[2:].split(b"\n", 1)[0].split()
        if not words:
            break
        path = os.path.realpath(os.fsdecode(words[0]))
        if path in found:
            break
        found.append(path)
    return found


def accesses_from_observation(obs: dict) -> list[Access]:
    """What one observation (a dict from the JSON line) says the program needed."""
    op, path = obs.get("op", ""), obs.get("path", "")
    peer = obs.get("peer") or {}
    if op == "open" and path:
        return [_open(path, obs.get("access", []))]
    if op == "exec" and path:
        return [Access("exec", path=path)] + [Access("exec", path=p) for p in interpreters(path)]
    if op in _WRITES and path:
        names = op not in ("chmod", "chown")  # these change an inode, not a directory
        letters = "w"
        if op == "create":  # open(O_CREAT): also what the descriptor was opened for
            letters = "".join(sorted({"w"} | {_OPEN_LETTERS[a] for a in obs.get("access", [])
                                              if a in _OPEN_LETTERS}))
        found = [Access("file", path=path + ("/" if op in ("mkdir", "rmdir") else ""),
                        letters=letters, created=names)]
        if op == "rename":
            found[0] = Access("file", path=path, letters="rw", created=True)
            if obs.get("target"):
                found.append(Access("file", path=obs["target"], letters="w", created=True))
        return found
    if op == "link" and obs.get("target"):
        return [Access("file", path=obs["target"], letters="l", created=True)]
    if op == "socket":
        family = peer.get("family")
        name = family if isinstance(family, str) else _FAMILIES.get(int(family or 0), "")
        kind = _TYPES.get(int(peer.get("type", 0)) & 0xF, "")
        return [Access("network", name=name, detail=kind)] if name and name != "unix" else []
    if op in ("connect", "bind"):
        if peer.get("family") == "unix":
            address = str(peer.get("address", ""))
            if address.startswith("/"):
                return [Access("file", path=address, letters="w")]
            return [Access("unix", detail=op)]
        return []  # covered by the socket() observation's network rule
    if op == "signal":
        sig = obs.get("signal")
        return [Access("signal", name=signal_name(sig) if isinstance(sig, int) else "")]
    if op == "ptrace":
        return [Access("ptrace", name=str(peer.get("pid", "")))]
    return []


def accesses(observations: Iterable[dict]) -> list[Access]:
    """Every access in `observations`, in order."""
    return [a for obs in observations for a in accesses_from_observation(obs)]
