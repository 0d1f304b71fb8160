"""TOMOYO's audit records (security/tomoyo/audit.c): a header line, the domain, the ACL.

  #2026/12/04 19:40:00# profile=3 mode=enforcing granted=no (global-pid=1234) task={ pid=1234
  ppid=1 uid=0 gid=0 euid=0 egid=0 suid=0 sgid=0 fsuid=0 fsgid=0 } path1={ uid=0 gid=0
  ino=1234 major=8 minor=1 perm=0644 type=file } path1.parent={ uid=0 gid=0 ino=2 perm=0755 }
  <kernel> /usr/bin/cat
  file read /etc/passwd

(the header is one line). Time is UTC, as the kernel prints it.
"""

from __future__ import annotations

import stat
import time

from stockade.lsm.types import Object, Subject
from stockade.modules.tomoyo.acl import FILE_TYPE_NAMES, Access


def _path(index: int, obj: Object | None) -> str:
    if obj is None or not obj.exists:
        return ""
    major, minor = obj.dev >> 8 & 0xFFF, (obj.dev & 0xFF) | (obj.dev >> 12 & 0xFFF00)
    kind = FILE_TYPE_NAMES.get(stat.S_IFMT(obj.mode), "file")
    text = (f" path{index}={{ uid={obj.uid} gid={obj.gid} ino={obj.ino} major={major} "
            f"minor={minor} perm=0{obj.mode & 0o7777:o} type={kind} }}")
    parent = obj.parent
    if parent is not None and parent.exists:
        text += (f" path{index}.parent={{ uid={parent.uid} gid={parent.gid} ino={parent.ino} "
                 f"perm=0{parent.mode & 0o7777:o} }}")
    return text


def _quote(text: str) -> str:
    return '"' + text + '"'


def header(when: float, profile: int, mode: str, granted: bool, subject: Subject,
           access: Access) -> str:
    """The first line of a record."""
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(when))
    ppid = subject.ancestors[0] if subject.ancestors else 0
    text = (f"#{stamp}# profile={profile} mode={mode} granted={'yes' if granted else 'no'} "
            f"(global-pid={subject.pid}) task={{ pid={subject.pid} ppid={ppid} "
            f"uid={subject.uid} gid={subject.gid} euid={subject.euid} egid={subject.egid} "
            f"suid={subject.suid} sgid={subject.sgid} fsuid={subject.fsuid} "
            f"fsgid={subject.fsgid} }}")
    text += _path(1, access.path1) + _path(2, access.path2)
    if access.index == "execute" and access.realpath:
        argc = len(access.argv) if access.argv is not None else 0
        envc = len(access.envp) if access.envp is not None else 0
        argv = " ".join(_quote(a) for a in access.argv or ())
        text += (f" exec={{ realpath={_quote(access.realpath)} argc={argc} envc={envc} "
                 f"argv[]={{ {argv} }} envp[]={{ }} }}")
    return text


def record(when: float, profile: int, mode: str, granted: bool, subject: Subject,
           domain: str, access: Access) -> str:
    """A whole record: header, domain name, ACL line."""
    return "\n".join((header(when, profile, mode, granted, subject, access), domain,
                      access.line()))
