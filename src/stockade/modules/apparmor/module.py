"""`apparmor`: the exclusive path-based MAC module, deciding with compiled AppArmor profiles.

A subject's profile is its `("apparmor", NAME)` context; none or `unconfined` is not
mediated (but an exec from unconfined attaches to the profile that matches the executable).
A label naming no loaded profile is denied everything (fail closed). Hooks map to AppArmor's
operations and permissions as the kernel's security/apparmor/lsm.c does; see
`docs/apparmor.md` for the table and for what is simplified.
"""

from __future__ import annotations

import errno
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from stockade.errors import StockadeError
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    PTRACE_MODE_ATTACH,
    Object,
    Request,
    Subject,
)
from stockade.modules.apparmor import ipc
from stockade.modules.apparmor.domain import Transition, transition
from stockade.modules.apparmor.perms import A, Check, K, M, R, W, file_check, judge, link_check
from stockade.modules.apparmor.profiles import UNCONFINED, Aare, ProfileSet, load_policy
from stockade.policy import CompiledProfile

PROT_READ, PROT_EXEC = 0x1, 0x4
MODES = ("enforce", "complain", "kill", "unconfined", "prompt", "default_allow")


class ExecTransition(NamedTuple):
    """The outcome of an allowed exec: the new profile (or "unconfined"), whether the
    environment is scrubbed (AT_SECURE), and the rule that decided."""

    profile: str
    scrub_env: bool
    rule: str


class ExecDenied(StockadeError):
    """An exec the profile does not allow; `errno` and `reason` say why."""

    def __init__(self, err: int, reason: str) -> None:
        super().__init__(reason)
        self.errno = err
        self.reason = reason


@dataclass
class AppArmor(SecurityModule):
    """AppArmor over stockade's hooks: profiles from files, directories or text.

    `profiles`: profile files, directories of profile files, or profile text;
    `include_dirs`: extra include search directories (before /etc/apparmor.d and stockade's
    bundled abstractions); `profile_modes`: a mode per profile name overriding its flags.
    """

    name = "apparmor"
    exclusive = True
    profiles: Sequence[str] = ()
    include_dirs: Sequence[str] = ()
    system_includes: bool = True
    profile_modes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.policy = ProfileSet()
        if isinstance(self.profiles, str):
            self.profiles = [self.profiles]
        if self.profiles:
            self.policy.add(load_policy(list(self.profiles), self.include_dirs,
                                        system=self.system_includes))
        for name, mode in self.profile_modes.items():
            self._check_mode(name, mode)

    # -- policy management ----------------------------------------------------------------------

    def load_profiles(self, sources: Sequence[str] | str,
                      include_dirs: Sequence[str] = ()) -> list[str]:
        """Load (add or replace) profiles from files, directories or text; returns their
        names. Cached decisions are dropped."""
        dirs = list(include_dirs) or list(self.include_dirs)
        added = self.policy.add(load_policy(sources, dirs, system=self.system_includes))
        self.reload()
        return [p.name for p in added]

    def replace_profile(self, source: str | CompiledProfile | Iterable[CompiledProfile],
                        include_dirs: Sequence[str] = ()) -> list[str]:
        """Replace (or add) profiles, as `apparmor_parser -r` does; AVC flushed."""
        if isinstance(source, CompiledProfile):
            added = self.policy.add([source])
        elif isinstance(source, str):
            return self.load_profiles(source, include_dirs)
        else:
            added = self.policy.add(source)
        self.reload()
        return [p.name for p in added]

    def remove_profile(self, name: str) -> None:
        """Unload a profile (`apparmor_parser -R`); AVC flushed."""
        self.policy.remove(name)
        self.reload()

    def set_profile_mode(self, name: str, mode: str) -> None:
        """Override one profile's mode (enforce, complain, kill, unconfined, ...)."""
        self._check_mode(name, mode)
        self.profile_modes[name] = mode
        self.reload()

    def _check_mode(self, name: str, mode: str) -> None:
        if mode not in MODES:
            raise StockadeError(f"unknown AppArmor mode {mode!r} for {name} "
                                f"(one of {', '.join(MODES)})")

    def profile(self, name: str) -> CompiledProfile:
        """A loaded profile by full name (`parent//child` for children and hats)."""
        prof = self.policy.get(name)
        if prof is None:
            raise StockadeError(f"no AppArmor profile {name!r} is loaded")
        return prof

    def mode_of(self, prof: CompiledProfile) -> str:
        """The profile's effective mode (an override, else its flags); prompt is enforce."""
        mode = self.profile_modes.get(prof.name, prof.mode)
        return "enforce" if mode == "prompt" else mode

    def find_attachment(self, exe_path: str) -> str | None:
        """The name of the profile that attaches to an executable, or None."""
        found = self.policy.find_attachment(exe_path)
        return found.profile.name if found.profile is not None else None

    def exec_transition(self, subject_profile: str, exe_path: str, *, owner: bool = True,
                        no_new_privs: bool = False) -> ExecTransition:
        """The domain an exec of `exe_path` enters from `subject_profile`; ExecDenied when
        the profile refuses it (a complain-mode profile never refuses)."""
        prof = self._lookup(subject_profile)
        mode = self.mode_of(prof) if prof is not None else "unconfined"
        if prof is not None and mode == "unconfined":
            prof = None
        t = transition(self.policy, prof, exe_path, owner=owner, complain=mode == "complain",
                       no_new_privs=no_new_privs)
        if t.check is not None and prof is not None:
            verdict = judge(prof, mode, t.check)
            if verdict.errno and (verdict.hard or not verdict.complain):
                raise ExecDenied(verdict.errno, verdict.reason)
        return ExecTransition(t.new, t.scrub_env, t.rule)

    # -- the label-module protocol (modules.labels): the supervisor moves a task to the
    # -- profile an exec it allowed transitions to (px, cx, ux, ...)
    def subject_label(self, subject: Subject) -> str:
        """The subject's profile, `unconfined` when it has none."""
        return subject.context("apparmor") or UNCONFINED

    def exec_label(self, exe: Object) -> str | None:
        """AppArmor transitions by the program's path."""
        return exe.path or None

    def transition(self, subject_label: str, exe_label: str | None) -> str:
        """The profile after exec of `exe_label` (the same one when the exec is refused: the
        hook has already denied it)."""
        if not exe_label:
            return subject_label
        try:
            return self.exec_transition(subject_label, exe_label).profile
        except (ExecDenied, StockadeError):
            return subject_label

    def _lookup(self, label: str) -> CompiledProfile | None:
        if not label or label == UNCONFINED:
            return None
        prof = self.policy.get(label)
        if prof is None:
            raise StockadeError(f"no AppArmor profile {label!r} is loaded")
        return prof

    # -- helpers --------------------------------------------------------------------------------

    def _confined(self, subject: Subject) -> tuple[CompiledProfile, str] | Verdict | None:
        """(profile, mode), None when unconfined, or a denial for an unknown label."""
        label = subject.context(self.name)
        if not label or label == UNCONFINED:
            return None
        prof = self.policy.get(label)
        if prof is None:
            return self.deny(errno.EACCES, f"profile {label!r} is not loaded (fail closed)",
                             fields=(("profile", label), ("info", "profile not loaded")))
        mode = self.mode_of(prof)
        if mode == "unconfined":
            return None
        return prof, mode

    def _file(self, req: Request, op: str, obj: Object, request: int, *, is_dir: bool = False,
              owner_of: Object | None = None) -> Verdict | None:
        who = self._confined(req.subject)
        if not isinstance(who, tuple):
            return who
        prof, mode = who
        cond = owner_of if owner_of is not None else obj
        ouid = cond.uid if cond.exists else req.subject.fsuid
        owner = ouid == req.subject.fsuid
        fields = (("fsuid", str(req.subject.fsuid)), ("ouid", str(ouid)))
        if owner_of is not None:
            fields = (("name", obj.path), *fields)
        check = file_check(prof, op, obj.path, request, is_dir=is_dir or obj.is_dir,
                           owner=owner, fields=fields)
        return judge(prof, mode, check)

    # -- file hooks -----------------------------------------------------------------------------

    def hook_file_open(self, req: Request) -> Verdict | None:
        """open: r for read, w for write, a for O_APPEND writes; an exec's open is the
        bprm hook's (the kernel skips file_open while in execve)."""
        acc = req.access
        if req.obj is None or acc & MAY_EXEC:
            return None
        request = R if acc & MAY_READ else 0
        if acc & MAY_WRITE:
            request |= A if acc & MAY_APPEND else W
        elif acc & MAY_APPEND:
            request |= A
        if not request:
            return None
        return self._file(req, "open", req.obj, request)

    def hook_inode_create(self, req: Request) -> Verdict | None:
        """open(O_CREAT) goes through security_path_mknod: w on the new path."""
        return self._file(req, "mknod", req.obj, W) if req.obj is not None else None

    def hook_inode_mknod(self, req: Request) -> Verdict | None:
        """mknod: w on the new path."""
        return self._file(req, "mknod", req.obj, W) if req.obj is not None else None

    def hook_inode_symlink(self, req: Request) -> Verdict | None:
        """symlink: w on the new link's path."""
        return self._file(req, "symlink", req.obj, W) if req.obj is not None else None

    def hook_inode_mkdir(self, req: Request) -> Verdict | None:
        """mkdir: w on the new directory (matched as `path/`)."""
        return self._file(req, "mkdir", req.obj, W, is_dir=True) if req.obj is not None else None

    def hook_inode_unlink(self, req: Request) -> Verdict | None:
        """unlink: w (delete) on the path."""
        return self._file(req, "unlink", req.obj, W) if req.obj is not None else None

    def hook_inode_rmdir(self, req: Request) -> Verdict | None:
        """rmdir: w (delete) on the directory."""
        return self._file(req, "rmdir", req.obj, W, is_dir=True) if req.obj is not None else None

    def hook_inode_rename(self, req: Request) -> Verdict | None:
        """rename: rw on the source (read, delete, metadata), then w on the destination
        (write, create, metadata), both with the source inode's owner."""
        if req.obj is None or req.target is None:
            return None
        src = self._file(req, "rename_src", req.obj, R | W)
        if src is None or src.errno:
            return src
        dest = self._file(req, "rename_dest", req.target, W, is_dir=req.obj.is_dir,
                          owner_of=req.obj)
        if dest is not None and not dest.errno and src.audit and not dest.audit:
            return src
        return dest

    def hook_inode_link(self, req: Request) -> Verdict | None:
        """link: `l` on the new name (req.target) paired with the existing file (req.obj)."""
        if req.obj is None or req.target is None:
            return None
        who = self._confined(req.subject)
        if not isinstance(who, tuple):
            return who
        prof, mode = who
        ouid = req.obj.uid
        check = link_check(prof, req.target.path, req.obj.path, is_dir=req.obj.is_dir,
                           owner=ouid == req.subject.fsuid, match=Aare.match)
        fields = (("name", req.target.path), ("fsuid", str(req.subject.fsuid)),
                  ("ouid", str(ouid)), *check.fields)
        return judge(prof, mode, _refield(check, fields))

    def hook_inode_setattr(self, req: Request) -> Verdict | None:
        """chmod, chown and truncate need w (the kernel's AA_MAY_CHMOD/CHOWN/SETATTR are all
        mapped from the classic w); utimes and other attributes are not mediated."""
        if req.obj is None or req.what not in ("chmod", "chown", "truncate"):
            return None
        return self._file(req, req.what, req.obj, W)

    def hook_file_lock(self, req: Request) -> Verdict | None:
        """flock/fcntl locks need k."""
        return self._file(req, "file_lock", req.obj, K) if req.obj is not None else None

    def hook_mmap_file(self, req: Request) -> Verdict | None:
        """mmap with PROT_EXEC needs m (and r for PROT_READ)."""
        if req.obj is None or not req.flags & PROT_EXEC:
            return None
        return self._file(req, "file_mmap", req.obj, M | (R if req.flags & PROT_READ else 0))

    def hook_bprm_check_security(self, req: Request) -> Verdict | None:
        """exec: x with the exec mode's domain transition (see `domain`)."""
        if req.obj is None:
            return None
        t = self.explain_exec(req.subject, req.obj)
        if isinstance(t, Verdict) or t is None:
            return t
        prof = self.policy.get(req.subject.context(self.name))
        assert prof is not None and t.check is not None
        return judge(prof, self.mode_of(prof), t.check)

    def explain_exec(self, subject: Subject, exe: Object) -> Transition | Verdict | None:
        """The transition an exec would make (None: unconfined and nothing attaches)."""
        who = self._confined(subject)
        if isinstance(who, Verdict):
            return who
        prof = who[0] if who is not None else None
        complain = who is not None and who[1] == "complain"
        ouid = exe.uid if exe.exists else subject.fsuid
        t = transition(self.policy, prof, exe.path, owner=ouid == subject.fsuid,
                       complain=complain, no_new_privs=subject.no_new_privs)
        if t.check is None:
            return None
        fields = (("fsuid", str(subject.fsuid)), ("ouid", str(ouid)), *t.check.fields)
        return Transition(t.new, t.scrub_env, t.rule, _refield(t.check, fields), t.exec_mode,
                          t.info)

    # -- capabilities, network, signals, ptrace, mount -----------------------------------------

    def hook_capable(self, req: Request) -> Verdict | None:
        """`capability` rules; a denial is EPERM."""
        who = self._confined(req.subject)
        if not isinstance(who, tuple):
            return who
        return judge(who[0], who[1], ipc.capability_check(who[0], req.cap))

    def _net(self, req: Request, word: str) -> Verdict | None:
        who = self._confined(req.subject)
        if not isinstance(who, tuple) or req.obj is None:
            return who if isinstance(who, Verdict) else None
        obj = req.obj
        check = ipc.network_check(who[0], word, obj.family, obj.sock_type, obj.protocol,
                                  obj.address, obj.port)
        return judge(who[0], who[1], check)

    def hook_socket_create(self, req: Request) -> Verdict | None:
        """socket(): `network [create] FAMILY TYPE PROTOCOL`."""
        return self._net(req, "create")

    def hook_socket_bind(self, req: Request) -> Verdict | None:
        """bind(): `network bind ... ip= port=` (classic rules allow any address)."""
        return self._net(req, "bind")

    def hook_socket_connect(self, req: Request) -> Verdict | None:
        """connect(): `network connect ... peer=(ip= port=)`."""
        return self._net(req, "connect")

    def hook_socket_listen(self, req: Request) -> Verdict | None:
        """listen(): `network listen ...`."""
        return self._net(req, "listen")

    def hook_unix_stream_connect(self, req: Request) -> Verdict | None:
        """A unix stream connect (coarse): `unix` or `network unix` rules; the peer label is
        the listening task's profile when the request carries it (obj.task)."""
        who = self._confined(req.subject)
        if not isinstance(who, tuple) or req.obj is None:
            return who if isinstance(who, Verdict) else None
        task = req.obj.task
        peer = (task.context(self.name) or UNCONFINED) if task is not None else None
        return judge(who[0], who[1], ipc.unix_connect_check(who[0], req.obj.address, peer))

    def _cross(self, req: Request, mine: int, theirs: int, *, tracee_rule: bool) -> Verdict | None:
        """Both sides, as the kernel's xcheck_labels(): the subject's profile for `mine`
        (peer = the target's label), then the target's profile for `theirs` (peer = ours).
        `tracee_rule`: the target side is skipped for an unconfined subject (ptrace)."""
        task = req.obj.task if req.obj is not None else None
        if task is None:
            return None
        sender = self._confined(req.subject)
        if isinstance(sender, Verdict):
            return sender
        target = self._confined(task)
        if isinstance(target, Verdict):
            target = None  # a target label we do not know has no rules to consult
        verdicts: list[Verdict] = []
        if sender is not None:
            peer = task.context(self.name) or UNCONFINED
            verdict = judge(sender[0], sender[1], self._side(req, sender[0], mine, peer))
            if verdict.errno:
                return verdict
            verdicts.append(verdict)
        if target is not None and not (tracee_rule and sender is None):
            peer = req.subject.context(self.name) or UNCONFINED
            verdict = judge(target[0], target[1], self._side(req, target[0], theirs, peer))
            if verdict.errno:
                return verdict
            verdicts.append(verdict)
        audited = [v for v in verdicts if v.audit]
        return audited[0] if audited else (verdicts[0] if verdicts else None)

    def _side(self, req: Request, prof: CompiledProfile, want: int, peer: str) -> Check:
        if req.hook == "task_kill":
            return ipc.signal_check(prof, want, req.signal, peer)
        return ipc.ptrace_check(prof, want, peer)

    def hook_task_kill(self, req: Request) -> Verdict | None:
        """kill(): `signal send` in the sender's profile, `signal receive` in the target's
        (peer= the other side's label). Signals to the same profile are mediated too."""
        return self._cross(req, ipc.SEND, ipc.RECEIVE, tracee_rule=False)

    def hook_ptrace_access_check(self, req: Request) -> Verdict | None:
        """ptrace: `ptrace read|trace` (PTRACE_MODE_READ|ATTACH) in the tracer's profile,
        `readby|tracedby` in the tracee's. An unconfined tracer is not checked on either side,
        as in the kernel's profile_tracee_perm()."""
        attach = bool(req.flags & PTRACE_MODE_ATTACH)
        mine = ipc.TRACE if attach else ipc.READ
        theirs = ipc.TRACEDBY if attach else ipc.READBY
        return self._cross(req, mine, theirs, tracee_rule=True)

    def hook_sb_mount(self, req: Request) -> Verdict | None:
        """mount/remount (coarse, see `ipc`): fstype, options, source, mount point."""
        who = self._confined(req.subject)
        if not isinstance(who, tuple) or req.obj is None:
            return who if isinstance(who, Verdict) else None
        source = req.target.path if req.target is not None else None
        fstype = "" if req.what == "none" else req.what
        check = ipc.mount_check(who[0], "mount", req.obj.path, fstype=fstype, flags=req.flags,
                                source=source)
        return judge(who[0], who[1], check)

    def hook_sb_umount(self, req: Request) -> Verdict | None:
        """umount: `umount MOUNTPOINT` rules."""
        who = self._confined(req.subject)
        if not isinstance(who, tuple) or req.obj is None:
            return who if isinstance(who, Verdict) else None
        return judge(who[0], who[1], ipc.mount_check(who[0], "umount", req.obj.path))

    def hook_sb_pivotroot(self, req: Request) -> Verdict | None:
        """pivot_root: new root (req.obj) and old root (req.target)."""
        who = self._confined(req.subject)
        if not isinstance(who, tuple) or req.obj is None:
            return who if isinstance(who, Verdict) else None
        old = req.target.path if req.target is not None else None
        return judge(who[0], who[1], ipc.pivot_root_check(who[0], req.obj.path, old))


def _refield(check: Check, fields: tuple[tuple[str, str], ...]) -> Check:
    return Check(check.op, check.cls, check.request, check.allow, check.deny, check.audit,
                 check.quiet, check.names, check.allow_rules, check.deny_rules, check.info,
                 check.err, fields, check.mask_fields)
