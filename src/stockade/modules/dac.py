"""DAC: the discretionary checks the kernel's VFS and syscalls make before the LSM hooks.

This file holds the filesystem checks; `dac_system.DacSystem` (the base class) the task,
socket, mount and kernel ones and the sysctls; `dac_acl` the mode-bit and ACL evaluation.

Modelled on fs/namei.c (generic_permission, may_open, may_create, may_delete, check_sticky,
may_linkat, vfs_rename), fs/posix_acl.c, fs/attr.c, fs/xattr.c, fs/open.c, kernel/ptrace.c,
kernel/signal.c, net/ipv4/af_inet.c, net/ipv4/ping.c, net/packet/af_packet.c,
kernel/module, kernel/events and kernel/bpf. A hook returns None when DAC allows and a denying
Verdict with the syscall's errno and a reason otherwise. Every capability override goes
through `self.capable` (the Stack's ns_capable) in the kernel's order.

Request encodings:
  file_open, inode_permission: `access` is the MAY_* mask (MAY_APPEND and MAY_OPEN add
    nothing to DAC, as in the kernel: O_RDONLY|O_APPEND needs only read).
  inode_create/mkdir/mknod/symlink: `obj` is the new name (`exists` True gives EEXIST),
    `obj.parent` its directory; for mknod `obj.mode` carries the node type.
  inode_unlink/rmdir: `obj` is the victim, `obj.parent` its directory.
  inode_rename: `obj` old, `target` new; `flags` holds renameat2's RENAME_NOREPLACE/EXCHANGE.
  inode_link: `obj` the existing source, `target` the new name.
  inode_setattr: `what` is "chmod" (`flags` = new mode), "chown" (`flags` =
    chown_flags(uid, gid), -1 leaves an id unchanged), "truncate", or "utimes" (`flags` =
    UTIMES_SET for explicit times, 0 for "now").
  inode_setxattr: `what` is the attribute name.
  mmap_file: `flags` is the PROT_* protection.  ptrace_access_check: `flags` is the
    PTRACE_MODE_* mode, `obj.task` the target.  task_kill: `signal`, `obj.task`.
  socket_create/socket_bind: `obj.family`, `obj.sock_type`, `obj.protocol`, `obj.port`.
  kernel_read_file/kernel_load_data: `what` is the read id ("module", "kexec-image", ...).
  bpf: `what` is the command ("map_create", "prog_load"; "" means either).
  perf_event_open: `what` is the scope: "user", "kernel", "cpu" or "tracepoint".

Not modelled (see docs/dac.md): idmapped mounts and user namespaces (every id is in the
initial namespace), immutable/append-only inode flags, protected_symlinks/fifos/regular,
nodev mounts, SIGCONT within a session, per-command bpf rules, security.* xattrs (left to
the capability module), NFS/FUSE/overlayfs permission methods, directory emptiness (ENOTEMPTY)
and mount boundaries other than differing devices (EXDEV), ETXTBSY.
"""

from __future__ import annotations

import errno
import stat
from dataclasses import dataclass
from typing import ClassVar

from stockade.lsm.caps import (
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH,
    CAP_FOWNER,
    CAP_FSETID,
    CAP_SYS_ADMIN,
    cap_number,
)
from stockade.lsm.module import Verdict
from stockade.lsm.setattr import chown_ids
from stockade.lsm.types import MAY_EXEC, MAY_READ, MAY_WRITE, Object, Request
from stockade.modules.dac_acl import RWX, group_name, mode_grants, user_name, want_names, why_denied
from stockade.modules.dac_system import DacSystem

CAP_MKNOD = cap_number("mknod")
RENAME_NOREPLACE = 1
RENAME_EXCHANGE = 2
UTIMES_SET = 1
PROT_EXEC = 4
_ROFS_TYPES = (stat.S_IFREG, stat.S_IFDIR, stat.S_IFLNK)


def _same(a: Object, b: Object) -> bool:
    if a.ino and b.ino:
        return a.ino == b.ino and a.dev == b.dev
    return a.path == b.path


@dataclass(kw_only=True)
class Dac(DacSystem):
    """The kernel's discretionary access control: file checks here, the rest in DacSystem."""

    name: ClassVar[str] = "dac"

    # -- building blocks -------------------------------------------------------------------

    def _owner_or_capable(self, req: Request, obj: Object) -> bool:
        """inode_owner_or_capable(): fsuid owns the inode, or CAP_FOWNER."""
        return req.subject.fsuid == obj.uid or self._cap(req, CAP_FOWNER)

    def _permission(self, req: Request, obj: Object, mask: int, op: str) -> Verdict | None:
        """inode_permission(): read-only filesystem, then generic_permission()."""
        if mask & MAY_WRITE and obj.readonly and stat.S_IFMT(obj.mode) in _ROFS_TYPES:
            return self.deny(errno.EROFS, f"{op} {obj.path}: write on a read-only mount",
                             fields=(("path", obj.path), ("requested", "write")))
        if mode_grants(req.subject, obj, mask):
            return None
        want = mask & RWX
        if obj.is_dir:
            if not want & MAY_WRITE and self._cap(req, CAP_DAC_READ_SEARCH):
                return None
            if self._cap(req, CAP_DAC_OVERRIDE):
                return None
            caps = ("CAP_DAC_OVERRIDE not effective" if want & MAY_WRITE else
                    "CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE not effective")
        else:
            if want == MAY_READ and self._cap(req, CAP_DAC_READ_SEARCH):
                return None
            exec_without_x = want & MAY_EXEC and not obj.mode & 0o111
            if not exec_without_x and self._cap(req, CAP_DAC_OVERRIDE):
                return None
            if exec_without_x:
                caps = "no capability overrides exec when no x bit is set"
            elif want == MAY_READ:
                caps = "CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE not effective"
            else:
                caps = "CAP_DAC_OVERRIDE not effective"
        cls, text = why_denied(req.subject, obj, mask)
        return self.deny(errno.EACCES, f"{op} {obj.path}: {text}; {caps}", fields=(
            ("path", obj.path), ("requested", want_names(want, is_dir=obj.is_dir)),
            ("mode", f"{obj.mode & 0o7777:04o}"), ("ouid", str(obj.uid)),
            ("ogid", str(obj.gid)), ("class", cls)))

    def _walk(self, req: Request, obj: Object) -> Verdict | None:
        """The path walk: search (MAY_EXEC) on every directory from "/" to the parent."""
        for directory in obj.ancestors:
            verdict = self._permission(req, directory, MAY_EXEC, "search")
            if verdict is not None:
                return verdict
        if obj.parent is not None:
            return self._permission(req, obj.parent, MAY_EXEC, "search")
        if obj.ancestors:
            return self.deny(errno.ENOENT, f"{obj.path}: a directory on the path does not exist")
        return None

    def _lookup(self, req: Request, obj: Object) -> Verdict | None:
        """Walk to an existing object: search permission, then ENOENT."""
        verdict = self._walk(req, obj)
        if verdict is None and not obj.exists:
            return self.deny(errno.ENOENT, f"{obj.path} does not exist")
        return verdict

    def _rofs(self, obj: Object) -> Verdict | None:
        """mnt_want_write(): EROFS on a read-only mount."""
        if obj.readonly:
            return self.deny(errno.EROFS, f"{obj.path} is on a read-only mount")
        return None

    def _may_create(self, req: Request, obj: Object) -> Verdict | None:
        """filename_create() + may_create(): EEXIST, EROFS, then write+search on the directory."""
        if obj.exists:
            return self.deny(errno.EEXIST, f"{obj.path} already exists")
        parent = obj.parent
        if parent is None:
            return None
        return self._rofs(parent) or self._permission(req, parent, MAY_WRITE | MAY_EXEC,
                                                      "create in")

    def _may_delete(self, req: Request, victim: Object, isdir: bool) -> Verdict | None:
        """may_delete(): write+search on the directory, the sticky bit, then the type."""
        if not victim.exists:
            return self.deny(errno.ENOENT, f"{victim.path} does not exist")
        parent = victim.parent
        if parent is not None:
            verdict = self._permission(req, parent, MAY_WRITE | MAY_EXEC,
                                       "remove from")
            if verdict is not None:
                return verdict
            if parent.mode & stat.S_ISVTX:
                fsuid = req.subject.fsuid
                if fsuid != victim.uid and fsuid != parent.uid and not self._cap(req, CAP_FOWNER):
                    return self.deny(errno.EPERM, (
                        f"{parent.path} is sticky (mode {parent.mode & 0o7777:04o}) and fsuid "
                        f"{fsuid} owns neither {victim.path} ({user_name(victim.uid)}) nor the "
                        f"directory ({user_name(parent.uid)}); CAP_FOWNER not effective"),
                        fields=(("path", victim.path), ("rule", "sticky")))
        if isdir and not victim.is_dir:
            return self.deny(errno.ENOTDIR, f"{victim.path} is not a directory")
        if not isdir and victim.is_dir:
            return self.deny(errno.EISDIR, f"{victim.path} is a directory")
        return None

    def may_take_name(self, req: Request) -> Verdict | None:
        """Whether `req.subject` may take `req.obj`'s name from its directory `obj.parent`
        (unlink it, rename it away or rename another file over it): a read-only mount, then
        may_delete() with the sticky bit. No walk: a directory held open needs none."""
        obj = req.obj
        if obj is None or obj.parent is None:
            return None
        return self._rofs(obj.parent) or self._may_delete(req, obj, obj.is_dir)

    # -- files -----------------------------------------------------------------------------

    def hook_inode_permission(self, req: Request) -> Verdict | None:
        """One inode's permission check (no walk)."""
        obj = req.obj
        if obj is None or not obj.exists:
            return None
        return self._permission(req, obj, req.access, "access")

    def hook_file_open(self, req: Request) -> Verdict | None:
        """The path walk, then may_open()."""
        obj = req.obj
        if obj is None:
            return None
        verdict = self._lookup(req, obj)
        if verdict is not None:
            return verdict
        mask = req.access
        fmt = stat.S_IFMT(obj.mode)
        if fmt == stat.S_IFLNK:
            return self.deny(errno.ELOOP, f"{obj.path} is a symbolic link (O_NOFOLLOW)")
        if fmt == stat.S_IFDIR:
            if mask & MAY_WRITE:
                return self.deny(errno.EISDIR, f"{obj.path} is a directory; it cannot be "
                                 "opened for writing")
            if mask & MAY_EXEC:
                return self.deny(errno.EACCES, f"{obj.path} is a directory; it cannot be "
                                 "executed")
        elif fmt == stat.S_IFREG:
            if mask & MAY_EXEC and obj.noexec:
                return self.deny(errno.EACCES, f"{obj.path} is on a noexec mount")
        elif mask & MAY_EXEC:
            return self.deny(errno.EACCES, f"{obj.path} is not a regular file; it cannot be "
                             "executed")
        return self._permission(req, obj, mask, "open")

    def hook_bprm_check_security(self, req: Request) -> Verdict | None:
        """do_open_execat(): a regular file, not on a noexec mount, with exec permission."""
        obj = req.obj
        if obj is None:
            return None
        verdict = self._lookup(req, obj)
        if verdict is not None:
            return verdict
        if not stat.S_ISREG(obj.mode):
            return self.deny(errno.EACCES, f"{obj.path} is not a regular file")
        if obj.noexec:
            return self.deny(errno.EACCES, f"{obj.path} is on a noexec mount")
        return self._permission(req, obj, MAY_EXEC, "execute")

    def hook_mmap_file(self, req: Request) -> Verdict | None:
        """do_mmap(): PROT_EXEC of a file on a noexec mount is EPERM."""
        obj = req.obj
        if obj is not None and req.flags & PROT_EXEC and obj.noexec:
            return self.deny(errno.EPERM, f"{obj.path} is on a noexec mount; PROT_EXEC refused")
        return None

    def hook_inode_create(self, req: Request) -> Verdict | None:
        """open(O_CREAT|O_EXCL), mknod of a regular file."""
        return self._create(req)

    def hook_inode_mkdir(self, req: Request) -> Verdict | None:
        """mkdir()."""
        return self._create(req)

    def hook_inode_symlink(self, req: Request) -> Verdict | None:
        """symlink()."""
        return self._create(req)

    def hook_inode_mknod(self, req: Request) -> Verdict | None:
        """mknod(): may_create, then CAP_MKNOD for character and block devices."""
        verdict = self._create(req)
        obj = req.obj
        if verdict is None and obj is not None and stat.S_IFMT(obj.mode) in (
                stat.S_IFCHR, stat.S_IFBLK) and not self._cap(req, CAP_MKNOD):
            return self.deny(errno.EPERM, f"mknod {obj.path}: a device node needs CAP_MKNOD")
        return verdict

    def _create(self, req: Request) -> Verdict | None:
        obj = req.obj
        if obj is None:
            return None
        return self._walk(req, obj) or self._may_create(req, obj)

    def hook_inode_unlink(self, req: Request) -> Verdict | None:
        """unlink(): EROFS before the lookup, then may_delete()."""
        return self._delete(req, isdir=False)

    def hook_inode_rmdir(self, req: Request) -> Verdict | None:
        """rmdir(): as unlink, for directories."""
        return self._delete(req, isdir=True)

    def _delete(self, req: Request, *, isdir: bool) -> Verdict | None:
        obj = req.obj
        if obj is None:
            return None
        verdict = self._walk(req, obj)
        if verdict is None and obj.parent is not None:
            verdict = self._rofs(obj.parent)
        return verdict or self._may_delete(req, obj, isdir)

    def hook_inode_rename(self, req: Request) -> Verdict | None:
        """renameat2() and vfs_rename()."""
        old, new = req.obj, req.target
        if old is None or new is None:
            return None
        verdict = self._walk(req, old) or self._walk(req, new)
        if verdict is not None:
            return verdict
        if old.parent is not None and new.parent is not None and old.parent.dev != new.parent.dev:
            return self.deny(errno.EXDEV, f"{old.path} and {new.path} are on different mounts")
        if old.parent is not None and (verdict := self._rofs(old.parent)):
            return verdict
        if not old.exists:
            return self.deny(errno.ENOENT, f"{old.path} does not exist")
        exchange = bool(req.flags & RENAME_EXCHANGE)
        if req.flags & RENAME_NOREPLACE and new.exists:
            return self.deny(errno.EEXIST, f"{new.path} exists (RENAME_NOREPLACE)")
        if exchange and not new.exists:
            return self.deny(errno.ENOENT, f"{new.path} does not exist (RENAME_EXCHANGE)")
        if old.is_dir and new.path.startswith(old.path.rstrip("/") + "/"):
            return self.deny(errno.EINVAL, f"{old.path} cannot move into its own subtree")
        if new.exists and _same(old, new):
            return None
        verdict = self._may_delete(req, old, old.is_dir)
        if verdict is None:
            if not new.exists:
                verdict = self._may_create(req, new)
            else:
                verdict = self._may_delete(req, new, new.is_dir if exchange else old.is_dir)
        if verdict is not None:
            return verdict
        if old.parent is not None and new.parent is not None and not _same(old.parent, new.parent):
            if old.is_dir:
                verdict = self._permission(req, old, MAY_WRITE, "move directory (update '..')")
            if verdict is None and exchange and new.is_dir:
                verdict = self._permission(req, new, MAY_WRITE, "move directory (update '..')")
        return verdict

    def hook_inode_link(self, req: Request) -> Verdict | None:
        """linkat(): lookups, EEXIST, EROFS, protected_hardlinks, then may_create()."""
        old, new = req.obj, req.target
        if old is None or new is None:
            return None
        verdict = self._lookup(req, old) or self._walk(req, new)
        if verdict is not None:
            return verdict
        if new.exists:
            return self.deny(errno.EEXIST, f"{new.path} already exists")
        if new.parent is not None:
            if verdict := self._rofs(new.parent):
                return verdict
            if new.parent.dev != old.dev:
                return self.deny(errno.EXDEV, f"{old.path} and {new.path} are on different mounts")
        if self.protected_hardlinks and not (self._safe_hardlink_source(req, old)
                                             or self._owner_or_capable(req, old)):
            return self.deny(errno.EPERM, (
                f"fs.protected_hardlinks: fsuid {req.subject.fsuid} does not own {old.path} "
                f"({user_name(old.uid)}), it is not a safe source (a regular, non-setuid, "
                "non-setgid-executable file the caller can read and write), and CAP_FOWNER "
                "is not effective"), fields=(("path", old.path), ("rule", "protected_hardlinks")))
        verdict = self._may_create(req, new)
        if verdict is None and old.is_dir:
            return self.deny(errno.EPERM, f"{old.path} is a directory; it cannot be hard-linked")
        return verdict

    def _safe_hardlink_source(self, req: Request, obj: Object) -> bool:
        mode = obj.mode
        if not stat.S_ISREG(mode) or mode & stat.S_ISUID:
            return False
        if mode & (stat.S_ISGID | stat.S_IXGRP) == stat.S_ISGID | stat.S_IXGRP:
            return False
        return self._permission(req, obj, MAY_READ | MAY_WRITE, "link") is None

    def hook_inode_setattr(self, req: Request) -> Verdict | None:
        """chmod, chown, truncate and utimes (see the module docstring for the encoding)."""
        obj = req.obj
        what = req.what
        if obj is None or what not in ("chmod", "chown", "truncate", "utimes"):
            return None
        verdict = self._lookup(req, obj)
        if verdict is not None:
            return verdict
        if what == "truncate":
            if obj.is_dir:
                return self.deny(errno.EISDIR, f"{obj.path} is a directory")
            if not stat.S_ISREG(obj.mode):
                return self.deny(errno.EINVAL, f"{obj.path} is not a regular file")
            return self._rofs(obj) or self._permission(req, obj, MAY_WRITE, "truncate")
        if verdict := self._rofs(obj):
            return verdict
        if what == "chmod":
            if self._owner_or_capable(req, obj):
                return None
            return self._not_owner(req, obj, "chmod")
        if what == "utimes":
            if self._owner_or_capable(req, obj):
                return None
            if req.flags & UTIMES_SET:
                return self._not_owner(req, obj, "set explicit times on")
            return self._permission(req, obj, MAY_WRITE, "utimes")
        return self._chown(req, obj)

    def _not_owner(self, req: Request, obj: Object, op: str) -> Verdict:
        return self.deny(errno.EPERM, (
            f"{op} {obj.path}: fsuid {req.subject.fsuid} is not the owner "
            f"({user_name(obj.uid)}) and CAP_FOWNER is not effective"),
            fields=(("path", obj.path), ("ouid", str(obj.uid))))

    def _chown(self, req: Request, obj: Object) -> Verdict | None:
        """chown_common() and setattr_prepare(): chown_ok(), chgrp_ok(), then set-id clearing.

        On a non-directory, chown also clears S_ISUID, and S_ISGID when it is group-executable
        or the caller is neither in the file's group nor holds CAP_FSETID; clearing a bit is a
        mode change, which needs ownership or CAP_FOWNER (EPERM otherwise).
        """
        uid, gid = chown_ids(req.flags)
        subject = req.subject
        owner = subject.fsuid == obj.uid
        mode = obj.mode
        kill_sgid = bool(not obj.is_dir and mode & stat.S_ISGID and (
            mode & stat.S_IXGRP or not (subject.in_group(obj.gid) or self._cap(req, CAP_FSETID))))
        kill_suid = bool(not obj.is_dir and mode & stat.S_ISUID)
        if uid != -1 and not (owner and uid == obj.uid) and not self._cap(req, CAP_CHOWN):
            return self.deny(errno.EPERM, (
                f"chown {obj.path} to {user_name(uid)}: only CAP_CHOWN may change the owner "
                f"(now {user_name(obj.uid)}); CAP_CHOWN not effective"),
                fields=(("path", obj.path), ("ouid", str(obj.uid))))
        if gid != -1 and not (owner and (gid == obj.gid or subject.in_group(gid))) \
                and not self._cap(req, CAP_CHOWN):
            why = ("the caller is not in that group" if owner else
                   f"fsuid {subject.fsuid} is not the owner ({user_name(obj.uid)})")
            return self.deny(errno.EPERM, (
                f"chgrp {obj.path} to {group_name(gid)}: {why}; CAP_CHOWN not effective"),
                fields=(("path", obj.path), ("ogid", str(obj.gid))))
        if (kill_suid or kill_sgid) and not self._owner_or_capable(req, obj):
            bit = "setuid" if kill_suid else "setgid"
            return self.deny(errno.EPERM, (
                f"chown {obj.path}: it is {bit} (mode {mode & 0o7777:04o}); chown clears the bit, "
                f"a mode change that needs the owner ({user_name(obj.uid)}) or CAP_FOWNER, "
                "not effective"), fields=(("path", obj.path), ("rule", "kill_suid")))
        return None

    def hook_inode_setxattr(self, req: Request) -> Verdict | None:
        """setxattr(): EROFS, then the namespace's rule (xattr_permission, set_posix_acl)."""
        obj = req.obj
        if obj is None:
            return None
        verdict = self._lookup(req, obj) or self._rofs(obj)
        if verdict is not None:
            return verdict
        name = req.what
        if name.startswith("system.posix_acl_"):
            if name == "system.posix_acl_default" and not obj.is_dir:
                return self.deny(errno.EACCES, f"{obj.path}: only directories have a default ACL")
            if self._owner_or_capable(req, obj):
                return None
            return self._not_owner(req, obj, "setxattr")
        if name.startswith(("security.", "system.")):
            return None
        if name.startswith("trusted."):
            if self._cap(req, CAP_SYS_ADMIN):
                return None
            return self.deny(errno.EPERM, f"{name}: trusted.* needs CAP_SYS_ADMIN, not effective")
        if name.startswith("user."):
            if not (stat.S_ISREG(obj.mode) or obj.is_dir):
                return self.deny(errno.EPERM, f"{name}: user.* attributes exist only on regular "
                                 "files and directories")
            if obj.is_dir and obj.mode & stat.S_ISVTX and not self._owner_or_capable(req, obj):
                return self.deny(errno.EPERM, (
                    f"{name} on sticky directory {obj.path}: only its owner "
                    f"({user_name(obj.uid)}) or CAP_FOWNER may set user.* attributes"))
        return self._permission(req, obj, MAY_WRITE, "setxattr")
