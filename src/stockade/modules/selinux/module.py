"""The `selinux` security module: hooks → (scontext, tcontext, class, perms) → the policy.

Subject contexts come from `Subject.context("selinux")`, file contexts from an xattr
(`user.stockade.selinux` unless told `security.selinux`), task contexts from the target task.
A missing label is the `file` initial SID's context (as the kernel labels unlabeled inodes),
an invalid one the `unlabeled` SID's. Denials carry the AVC record's fields (perms, scontext,
tcontext, tclass); dontaudit makes them quiet, auditallow asks for a `granted` record, and
a permissive domain (typepermissive) lets the denial through with `permissive=1`.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from stockade.errors import StockadeError
from stockade.files import require_input
from stockade.lsm.caps import cap_name
from stockade.lsm.module import Mode, SecurityModule, Verdict
from stockade.lsm.types import (
    PTRACE_MODE_ATTACH,
    Object,
    ObjectKind,
    Request,
    Subject,
)
from stockade.modules.selinux.classes import file_class, file_perms, socket_class
from stockade.modules.selinux.policy import AvDecision, Context, Policy, PolicyError

DEFAULT_XATTR = "user.stockade.selinux"
EPHEMERAL_PORTS = (32768, 60999)  # net.ipv4.ip_local_port_range: no name_bind check inside
_SIGNALS = {0: "signull", 9: "sigkill", 19: "sigstop", 17: "sigchld"}
Check = tuple[Context, Context, str, list[str]]


@dataclass
class SELinux(SecurityModule):
    """Type enforcement, RBAC and MLS; the policy comes from CIL files or a binary policy."""

    name = "selinux"
    exclusive = True
    policy: Policy | None = None
    policy_paths: list[str] | str | None = None
    xattr: str = DEFAULT_XATTR
    enforcing: bool = True
    default_context: str = ""
    handle_unknown: str = ""
    booleans: dict[str, bool] | None = None
    avc_size: int = 1024
    _avc: dict[tuple[Context, Context, str], AvDecision] = field(default_factory=dict, repr=False)
    _contexts: dict[str, Context | str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if self.policy is None:
            paths = [self.policy_paths] if isinstance(self.policy_paths, str) else self.policy_paths
            if not paths:
                raise StockadeError(
                    "the selinux module needs a policy: --module-option "
                    "'selinux.policy_paths=[\"/etc/selinux/NAME/policy/policy.N\"]' (the host's "
                    "is used only where the kernel runs SELinux)")
            self.policy = load_policy(paths)
        self.handle_unknown = self.handle_unknown or self.policy.handle_unknown
        if self.handle_unknown == "reject":
            self.handle_unknown = "deny"
        if self.handle_unknown not in ("allow", "deny"):
            raise StockadeError("handle_unknown must be 'allow' or 'deny'")
        for name, value in (self.booleans or {}).items():
            self.policy.set_boolean(name, value)
        if not self.enforcing:
            self.mode = Mode.COMPLAIN

    # -- policy state ----------------------------------------------------------------------

    def set_boolean(self, name: str, value: bool) -> None:
        """setsebool: the conditional rules change, so every cached decision goes."""
        assert self.policy is not None
        self.policy.set_boolean(name, value)
        self.reload()

    def setenforce(self, enforcing: bool) -> None:
        """Switch between enforcing and permissive; cached decisions are dropped."""
        self.enforcing = enforcing
        self.mode = Mode.ENFORCE if enforcing else Mode.COMPLAIN
        self.reload()

    def reload(self) -> None:
        """Drop cached decisions."""
        super().reload()
        self._avc.clear()

    # -- contexts --------------------------------------------------------------------------

    def context(self, text: str) -> Context | str:
        """A parsed context, or the reason it is invalid (memoised, bounded)."""
        found = self._contexts.get(text)
        if found is None:
            assert self.policy is not None
            try:
                found = self.policy.parse_context(text)
            except PolicyError as err:
                found = str(err)
            if len(self._contexts) >= 4 * self.avc_size:
                self._contexts.clear()
            self._contexts[text] = found
        return found

    def _sid(self, name: str) -> Context:
        assert self.policy is not None
        ctx = self.policy.sid_contexts.get(name) or self.policy.sid_contexts.get("unlabeled")
        if ctx is None:
            raise StockadeError(f"the policy has no context for the {name!r} initial SID")
        return ctx

    def subject_context(self, req: Request) -> Context | str:
        """The subject's context, or why it has none that is valid."""
        text = req.subject.context("selinux") or self.default_context
        if not text:
            return self._sid("unlabeled")
        return self.context(text)

    def object_context(self, obj: Object | None) -> Context:
        """A file's xattr label, a task's context; unlabeled or invalid → initial SIDs."""
        if obj is None:
            return self._sid("unlabeled")
        if obj.kind == ObjectKind.TASK and obj.task is not None:
            found = self.context(obj.task.context("selinux") or self.default_context)
            return found if isinstance(found, Context) else self._sid("unlabeled")
        raw = obj.xattr(self.xattr)
        if raw is None:
            return self._sid("file")
        found = self.context(raw.rstrip(b"\0").decode("utf-8", "replace"))
        return found if isinstance(found, Context) else self._sid("unlabeled")

    # -- decisions -------------------------------------------------------------------------

    def compute_av(self, scon: Context, tcon: Context, tclass: str) -> AvDecision:
        """The policy's decision through this module's bounded (scontext, tcontext, class) AVC."""
        key = (scon, tcon, tclass)
        avd = self._avc.get(key)
        if avd is None:
            assert self.policy is not None
            avd = self.policy.compute_av(scon, tcon, tclass)
            if len(self._avc) >= self.avc_size:
                for old in list(self._avc)[: max(1, self.avc_size // 32)]:
                    del self._avc[old]
            self._avc[key] = avd
        return avd

    def check(self, checks: list[Check], hook: str = "") -> Verdict | None:
        """avc_has_perm for each (scon, tcon, class, perms); the first denial is the verdict."""
        assert self.policy is not None
        audited: list[tuple[str, str, str, str]] = []
        permissive: Verdict | None = None
        for scon, tcon, tclass, perms in checks:
            cls = self.policy.classes.get(tclass)
            if cls is None:
                if self.handle_unknown == "allow":
                    continue
                return self.deny(errno.EACCES, f"class {tclass} is not defined by the policy",
                                 fields=(("tclass", tclass),))
            known = [p for p in perms if p in cls.perms]
            if len(known) != len(perms) and self.handle_unknown == "deny":
                unknown = sorted(set(perms) - set(known))
                return self.deny(errno.EACCES, f"class {tclass} has no permission {' '.join(unknown)}",
                                 fields=(("tclass", tclass),))
            requested = cls.mask(known)
            avd = self.compute_av(scon, tcon, tclass)
            denied = requested & ~avd.allowed
            if denied:
                verdict = self._denial(scon, tcon, tclass, denied, avd, hook)
                if not avd.permissive:
                    return verdict
                permissive = permissive or verdict
                continue
            if requested & avd.auditallow:
                audited.append((" ".join(cls.names(requested & avd.auditallow)), str(scon),
                                str(tcon), tclass))
        if permissive is not None:
            return permissive
        if audited:
            perms, scon_t, tcon_t, tclass = audited[0]
            return Verdict(self.name, 0, f"auditallow {{ {perms} }}", "auditallow", audit=True,
                           fields=(("perms", perms), ("scontext", scon_t), ("tcontext", tcon_t),
                                   ("tclass", tclass), ("requested", perms)))
        return None

    def _denial(self, scon: Context, tcon: Context, tclass: str, denied: int, avd: AvDecision,
                hook: str) -> Verdict:
        assert self.policy is not None
        names = " ".join(self.policy.classes[tclass].names(denied))
        why = "no allow rule"
        te = self.policy.te_av(self.policy.type_id(scon.type), self.policy.type_id(tcon.type), tclass)
        if te[0] & denied == denied:
            failing = self.policy.failing_constraints(scon, tcon, tclass, denied)
            why = f"constraint at {failing[0].origin}" if failing else "role change not allowed"
        elif te[0] & denied:
            why = "partly allowed; no allow rule for the rest"
        rule = f"allow {scon.type} {tcon.type}:{tclass} {{ {names} }};"
        fields = (("perms", names), ("scontext", str(scon)), ("tcontext", str(tcon)),
                  ("tclass", tclass), ("requested", names), ("denied", names))
        return Verdict(self.name, errno.EACCES, f"{why}: {scon.type} -> {tcon.type}:{tclass} "
                       f"{{ {names} }}", rule, quiet=not denied & avd.auditdeny,
                       complain=avd.permissive, fields=fields)

    def _invalid(self, why: str) -> Verdict:
        return self.deny(errno.EACCES, why, fields=(("reason", why),))

    # -- file hooks ------------------------------------------------------------------------

    def _path_walk(self, scon: Context, obj: Object) -> list[Check]:
        dirs = [*obj.ancestors, *((obj.parent,) if obj.parent is not None else ())]
        return [(scon, self.object_context(d), "dir", ["search"]) for d in dirs]

    def _file_hook(self, req: Request, *, with_open: bool, walk: bool) -> Verdict | None:
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        obj = req.obj
        if obj is None or obj.kind != ObjectKind.FILE:
            return None
        perms = file_perms(req.access, obj.is_dir, with_open=with_open)
        checks = self._path_walk(scon, obj) if walk else []
        if perms:
            checks.append((scon, self.object_context(obj), file_class(obj.mode), perms))
        return self.check(checks, req.hook)

    def hook_file_open(self, req: Request) -> Verdict | None:
        """selinux_file_open: read/write/append/execute + open, after searching the path."""
        return self._file_hook(req, with_open=True, walk=True)

    def hook_file_permission(self, req: Request) -> Verdict | None:
        """selinux_file_permission: read/write/append on an open file."""
        return self._file_hook(req, with_open=False, walk=False)

    def hook_inode_permission(self, req: Request) -> Verdict | None:
        """selinux_inode_permission: the MAY_* mask on one inode (search on directories)."""
        return self._file_hook(req, with_open=False, walk=False)

    def _simple(self, req: Request, perm: str) -> Verdict | None:
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        if req.obj is None:
            return None
        return self.check([(scon, self.object_context(req.obj), file_class(req.obj.mode), [perm])],
                          req.hook)

    def hook_file_ioctl(self, req: Request) -> Verdict | None:
        """ioctl."""
        return self._simple(req, "ioctl")

    def hook_file_lock(self, req: Request) -> Verdict | None:
        """lock."""
        return self._simple(req, "lock")

    def hook_mmap_file(self, req: Request) -> Verdict | None:
        """PROT_EXEC mappings need execute."""
        return self._simple(req, "execute") if req.flags & 0x4 else None

    def hook_inode_setattr(self, req: Request) -> Verdict | None:
        """chmod, chown, utimes: setattr."""
        return self._simple(req, "setattr")

    def hook_inode_setxattr(self, req: Request) -> Verdict | None:
        """Our label xattr needs relabelfrom; any other xattr setattr."""
        return self._simple(req, "relabelfrom" if req.what == self.xattr else "setattr")

    def new_object_context(self, req: Request, tclass: str = "") -> Context:
        """The context a new file gets: typetransition (name-based first) or the parent's."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            raise StockadeError(scon)
        assert req.obj is not None
        return self._created(scon, req.obj, tclass or file_class(req.obj.mode))[1]

    def create_labels(self, subject: Subject, new: Object) -> tuple[tuple[str, str], ...]:
        """(attribute, context) of a file `subject` creates as `new` (type_transition); none
        when the subject's context is invalid (the create is denied anyway)."""
        if self.policy is None or new.parent is None:
            return ()
        try:
            return ((self.xattr,
                     str(self.new_object_context(Request("inode_create", subject, new)))),)
        except StockadeError:
            return ()

    def _created(self, scon: Context, obj: Object, tclass: str) -> tuple[Context, Context]:
        """(the parent directory's context, the new object's context: security_compute_sid)."""
        assert self.policy is not None
        dcon = self.object_context(obj.parent)
        return dcon, self.policy.compute_create(scon, dcon, tclass, os.path.basename(obj.path))

    def _create(self, req: Request, tclass: str) -> Verdict | None:
        """may_create(): dir search + add_name, then create on the new context."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        if req.obj is None:
            return None
        dcon, new = self._created(scon, req.obj, tclass)
        return self.check([(scon, dcon, "dir", ["search", "add_name"]), (scon, new, tclass, ["create"])],
                          req.hook)

    def hook_inode_create(self, req: Request) -> Verdict | None:
        """A new regular file."""
        return self._create(req, "file")

    def hook_inode_mkdir(self, req: Request) -> Verdict | None:
        """A new directory."""
        return self._create(req, "dir")

    def hook_inode_mknod(self, req: Request) -> Verdict | None:
        """A new device, fifo or socket node."""
        return self._create(req, file_class(req.obj.mode) if req.obj is not None else "file")

    def hook_inode_symlink(self, req: Request) -> Verdict | None:
        """A new symbolic link."""
        return self._create(req, "lnk_file")

    def _remove(self, req: Request, perm: str) -> Verdict | None:
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        obj = req.obj
        if obj is None:
            return None
        return self.check([(scon, self.object_context(obj.parent), "dir", ["search", "remove_name"]),
                           (scon, self.object_context(obj), file_class(obj.mode), [perm])], req.hook)

    def hook_inode_unlink(self, req: Request) -> Verdict | None:
        """may_link(MAY_UNLINK)."""
        return self._remove(req, "unlink")

    def hook_inode_rmdir(self, req: Request) -> Verdict | None:
        """may_link(MAY_RMDIR)."""
        return self._remove(req, "rmdir")

    def hook_inode_link(self, req: Request) -> Verdict | None:
        """may_link(MAY_LINK): the new directory's add_name and the file's link."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        obj, new = req.obj, req.target
        if obj is None:
            return None
        checks: list[Check] = []
        if new is not None:
            checks.append((scon, self.object_context(new.parent), "dir", ["search", "add_name"]))
        checks.append((scon, self.object_context(obj), file_class(obj.mode), ["link"]))
        return self.check(checks, req.hook)

    def hook_inode_rename(self, req: Request) -> Verdict | None:
        """may_rename(): remove_name, rename (reparent), add_name, and replacing a target."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        old, new = req.obj, req.target
        if old is None:
            return None
        cls = file_class(old.mode)
        old_dir = self.object_context(old.parent)
        perms = ["rename"]
        checks: list[Check] = [(scon, old_dir, "dir", ["search", "remove_name"])]
        if new is not None:
            new_dir = self.object_context(new.parent)
            if old.is_dir and new_dir != old_dir:
                perms.append("reparent")
            checks.append((scon, self.object_context(old), cls, perms))
            dir_perms = ["search", "add_name"] + (["remove_name"] if new.exists else [])
            checks.append((scon, new_dir, "dir", dir_perms))
            if new.exists:
                checks.append((scon, self.object_context(new), file_class(new.mode),
                               ["rmdir" if new.is_dir else "unlink"]))
        else:
            checks.append((scon, self.object_context(old), cls, perms))
        return self.check(checks, req.hook)

    # -- the label-module protocol (modules.labels): the supervisor moves a task to its new
    # -- domain after an exec the stack allowed, as the kernel's bprm_creds_for_exec does
    def subject_label(self, subject: Subject) -> str:
        """The subject's context text (the default context when it has none)."""
        return subject.context("selinux") or self.default_context

    def exec_label(self, exe: Object) -> str | None:
        """The executable's file context."""
        return str(self.object_context(exe))

    def transition(self, subject_label: str, exe_label: str | None) -> str:
        """The domain after exec: type_transition/role_transition/range_transition on
        `process`, or the same context when none applies (or a label is invalid)."""
        scon = self.context(subject_label)
        tcon = self.context(exe_label) if exe_label else None
        if not isinstance(scon, Context) or not isinstance(tcon, Context):
            return subject_label
        return str(self._process_transition(scon, tcon))

    def _process_transition(self, scon: Context, exe: Context) -> Context:
        """The context after exec: type/role/range transition on `process`."""
        assert self.policy is not None
        return self.policy.compute_create(scon, exe, "process")

    def exec_context(self, req: Request) -> Context | str:
        """The context after exec of req.obj: typetransition/roletransition on `process`."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return scon
        return self._process_transition(scon, self.object_context(req.obj))

    def hook_bprm_check_security(self, req: Request) -> Verdict | None:
        """selinux_bprm_creds_for_exec: execute_no_trans, or transition + entrypoint."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        if req.obj is None:
            return None
        assert self.policy is not None
        fcon = self.object_context(req.obj)
        new = self._process_transition(scon, fcon)
        if new == scon:
            return self.check([(scon, fcon, "file", ["execute", "execute_no_trans"])], req.hook)
        problem = self.policy.context_problem(new)
        if problem:
            return self._invalid(f"exec would enter the invalid context {new}: {problem}")
        checks: list[Check] = [(scon, fcon, "file", ["execute"]), (scon, new, "process", ["transition"]),
                               (new, fcon, "file", ["entrypoint"])]
        if req.subject.no_new_privs and "process2" in self.policy.classes:
            checks.append((scon, new, "process2", ["nnp_transition"]))
        return self.check(checks, req.hook)

    # -- sockets ---------------------------------------------------------------------------

    def _socket(self, req: Request, perms: list[str], port_perm: str = "") -> Verdict | None:
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        obj = req.obj
        if obj is None:
            return None
        assert self.policy is not None
        tclass = socket_class(obj.family, obj.sock_type)
        if tclass not in self.policy.classes and "socket" in self.policy.classes:
            tclass = "socket"
        sock = self.policy.compute_create(scon, scon, tclass) if tclass in self.policy.classes else scon
        checks: list[Check] = [(scon, sock, tclass, perms)]
        proto = {"tcp_socket": "tcp", "udp_socket": "udp"}.get(tclass)
        if port_perm and proto and obj.port:
            skip_bind = port_perm == "name_bind" and EPHEMERAL_PORTS[0] <= obj.port <= EPHEMERAL_PORTS[1]
            if not skip_bind and (port_perm == "name_bind" or proto == "tcp"):
                pcon = self.policy.port_context(proto, obj.port) or self._sid("port")
                checks.append((scon, pcon, tclass, [port_perm]))
        return self.check(checks, req.hook)

    def hook_socket_create(self, req: Request) -> Verdict | None:
        """create on the new socket (the creator's context, or a socket typetransition)."""
        return self._socket(req, ["create"])

    def hook_socket_bind(self, req: Request) -> Verdict | None:
        """bind, and name_bind on the port's type outside the ephemeral range."""
        return self._socket(req, ["bind"], "name_bind")

    def hook_socket_connect(self, req: Request) -> Verdict | None:
        """connect, and name_connect on a TCP port's type."""
        return self._socket(req, ["connect"], "name_connect")

    def hook_socket_listen(self, req: Request) -> Verdict | None:
        """listen."""
        return self._socket(req, ["listen"])

    # -- tasks, capabilities, mounts, kernel -----------------------------------------------

    def _task(self, req: Request, tclass: str, perm: str) -> Verdict | None:
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        if req.obj is None or req.obj.task is None:
            return None
        return self.check([(scon, self.object_context(req.obj), tclass, [perm])], req.hook)

    def hook_ptrace_access_check(self, req: Request) -> Verdict | None:
        """process ptrace to attach; file read to inspect (PTRACE_MODE_READ)."""
        if req.flags & PTRACE_MODE_ATTACH:
            return self._task(req, "process", "ptrace")
        return self._task(req, "file", "read")

    def hook_task_kill(self, req: Request) -> Verdict | None:
        """process sigkill/sigstop/sigchld/signull/signal."""
        return self._task(req, "process", _SIGNALS.get(req.signal, "signal"))

    def hook_capable(self, req: Request) -> Verdict | None:
        """capability/capability2 on the subject itself."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        tclass = "capability" if req.cap < 32 else "capability2"
        return self.check([(scon, scon, tclass, [cap_name(req.cap)])], req.hook)

    def _fs_context(self, fstype: str) -> Context:
        assert self.policy is not None
        return self.policy.fs_contexts.get(fstype) or self._sid("fs")

    def hook_sb_mount(self, req: Request) -> Verdict | None:
        """mounton on the mount point, then filesystem mount on the new filesystem."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        checks: list[Check] = []
        if req.obj is not None:
            checks.append((scon, self.object_context(req.obj), file_class(req.obj.mode or stat.S_IFDIR),
                           ["mounton"]))
        checks.append((scon, self._fs_context(req.what), "filesystem", ["mount"]))
        return self.check(checks, req.hook)

    def hook_sb_umount(self, req: Request) -> Verdict | None:
        """filesystem unmount."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        fstype = req.obj.fstype if req.obj is not None else req.what
        return self.check([(scon, self._fs_context(fstype), "filesystem", ["unmount"])], req.hook)

    def hook_kernel_module_request(self, req: Request) -> Verdict | None:
        """system module_request against the kernel."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        return self.check([(scon, self._sid("kernel"), "system", ["module_request"])], req.hook)

    def hook_kernel_read_file(self, req: Request) -> Verdict | None:
        """system module_load on the module file."""
        scon = self.subject_context(req)
        if isinstance(scon, str):
            return self._invalid(scon)
        if req.what != "kernel-module" or req.obj is None:
            return None
        return self.check([(scon, self.object_context(req.obj), "system", ["module_load"])], req.hook)


def load_policy(paths: list[str]) -> Policy:
    """CIL files, or one kernel binary policy (imported through setools)."""
    for path in paths:
        require_input(path, "policy")  # /dev/zero would be read forever
    if len(paths) == 1 and is_binary_policy(paths[0]):
        from stockade.modules.selinux.importer import import_policy
        return import_policy(paths[0])
    from stockade.modules.selinux.cil.build import load_cil
    return load_cil(paths)


def is_binary_policy(path: str) -> bool:
    """The kernel policy magic, 0xf97cff8c little-endian."""
    try:
        with open(path, "rb") as f:
            return f.read(4) == b"\x8c\xff\x7c\xf9"
    except OSError:
        return False
