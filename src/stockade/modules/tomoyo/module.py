"""`tomoyo`: the exclusive major module whose subjects are domains named by execution
history (`<kernel> /usr/sbin/sshd /usr/bin/bash`) and whose policy is path ACLs per domain.

A subject's domain is its `("tomoyo", NAME)` context, `<kernel>` when it has none. Each
request is checked in the mode the domain's profile gives its operation: disabled (not
checked), learning (allowed; the ACL TOMOYO would learn is appended to the domain while the
domain holds fewer permissions than max_learning_entry), permissive (allowed and recorded),
enforcing (denied with EPERM). Every rejected request gets one record in TOMOYO's audit
format (`fields["tomoyo_log"]`). See docs/tomoyo.md for the hooks and what is not modelled.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from stockade.errors import StockadeError
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.setattr import chown_ids
from stockade.lsm.types import MAY_APPEND, MAY_EXEC, MAY_READ, MAY_WRITE, Object, Request, Subject
from stockade.modules.labels import with_context
from stockade.modules.tomoyo import log
from stockade.modules.tomoyo.acl import Access, Match, count_entries, find_acl, patternize
from stockade.modules.tomoyo.domain import (
    aggregate,
    assign_domain,
    next_domain,
    preferred_domain,
)
from stockade.modules.tomoyo.policy import KERNEL, Domain, Policy, Profile, load_policy
from stockade.modules.tomoyo.syntax import LineError, parse_acl
from stockade.modules.tomoyo.words import encode_name

_PENDING_LIMIT = 256
_MKNOD = {stat.S_IFIFO: "mkfifo", stat.S_IFSOCK: "mksock", stat.S_IFBLK: "mkblock",
          stat.S_IFCHR: "mkchar"}
_INET = {socket.AF_INET, socket.AF_INET6}


def tomoyo_name(obj: Object, subject: Subject | None = None) -> str:
    """The name TOMOYO gives an object: its encoded absolute path (a directory ends in `/`),
    `proc:/...` for procfs (`proc:/self/...` for the caller's own entries), `devpts:/N`."""
    path = obj.path
    if path == "/proc" or path.startswith("/proc/"):
        rest = path[5:] or "/"
        if subject is not None and subject.pid:
            own = f"/{subject.pid}"
            if rest == own or rest.startswith(own + "/"):
                rest = "/self" + rest[len(own):]
        name = "proc:" + encode_name(rest)
    elif path.startswith("/dev/pts/"):
        name = "devpts:" + encode_name(path[8:])
    else:
        name = encode_name(path)
    if obj.is_dir and not name.endswith("/"):
        name += "/"
    return name


@dataclass
class Tomoyo(SecurityModule):
    """TOMOYO over stockade's hooks. `policy_dir`: a policy directory (the four .conf files);
    `force_mode`: `learning` or `permissive` for every domain but `<kernel>` (stockade run
    --mode learn: `<kernel>` is where the launcher runs);
    `launch_domain`: the domain the first exec from `<kernel>` enters (run --context)."""

    name = "tomoyo"
    exclusive = True
    policy_dir: str = ""
    force_mode: str = ""
    launch_domain: str = ""
    policy: Policy = field(default_factory=Policy)

    def __post_init__(self) -> None:
        if self.policy_dir:
            self.policy = load_policy(self.policy_dir)
        self.policy.domains.setdefault(KERNEL, Domain(KERNEL))
        if self.force_mode not in ("", "learning", "permissive"):
            raise StockadeError(f"tomoyo.force_mode must be learning or permissive, not "
                                f"{self.force_mode!r}")
        if self.launch_domain and self.launch_domain not in self.policy.domains:
            raise StockadeError(f"tomoyo: domain {self.launch_domain!r} is not in the policy")
        self._launched = False
        self._pending: OrderedDict[tuple[str, str], str] = OrderedDict()
        # argv and envp of execs about to be decided, by pid (exec_strings), bounded
        self._exec_args: OrderedDict[int, tuple[tuple[str, ...] | None,
                                                tuple[tuple[str, str], ...] | None]] = \
            OrderedDict()
        self.learned: list[tuple[str, str]] = []
        # TOMOYO's own log queue (/sys/kernel/security/tomoyo/audit): grant_log/reject_log
        # and max_audit_log apply to it; read_audit() drains it
        self.audit_log: deque[str] = deque()
        self.audit_dropped = 0

    # -- domains ----------------------------------------------------------------------------

    def domain_of(self, subject: Subject) -> Domain | None:
        """The subject's domain (None: its name is not in the policy)."""
        return self.policy.domains.get(subject.context(self.name) or KERNEL)

    def _mode(self, domain: Domain, index: str) -> tuple[Profile | None, str]:
        prof = self.policy.profile(domain.profile)
        if self.force_mode and domain.name != KERNEL:  # <kernel> is the launcher's own
            return prof, self.force_mode
        if prof is None:  # the kernel's null profile is disabled; it only ever applies to
            # <kernel> (no transition enters a domain whose profile is undefined): any other
            # domain named with an undefined profile fails closed
            return None, "disabled" if domain.name == KERNEL else "undefined"
        return prof, prof.mode(index)

    # -- the decision ---------------------------------------------------------------------------

    def check(self, subject: Subject, access: Access) -> tuple[Verdict | None, Match | None]:
        """(verdict, the ACL that granted it if one did) for one access in the subject's
        domain."""
        name = subject.context(self.name) or KERNEL
        domain = self.policy.domains.get(name)
        if domain is None:
            return self.deny(errno.EPERM, f"domain {name!r} is not in the policy (fail closed)",
                             access.line(), cacheable=False,
                             fields=(("domain", name), ("acl", access.line()))), None
        prof, mode = self._mode(domain, access.index)
        if mode == "disabled":
            return None, None
        if mode == "undefined":
            return self.deny(errno.EPERM, f"profile {domain.profile} is not defined (fail "
                             "closed)", access.line(), cacheable=False,
                             fields=(("domain", name), ("acl", access.line()))), None
        match = find_acl(self.policy, domain, access)
        if match is not None:
            if prof is not None and prof.logs(access.index, True):
                return self._verdict(subject, domain, mode, access, True,
                                     match.acl.text), match
            if match.conditional:
                return Verdict(self.name, 0, "", match.acl.text, cacheable=False), match
            return None, match
        if mode == "learning":
            self._learn(domain, prof, access)
        return self._verdict(subject, domain, mode, access, False, ""), None

    def _verdict(self, subject: Subject, domain: Domain, mode: str, access: Access,
                 granted: bool, rule: str) -> Verdict:
        text = log.record(time.time(), domain.profile, mode, granted, subject, domain.name,
                          access)
        self._queue(domain, access.index, granted, text)
        fields = (("domain", domain.name), ("tomoyo_profile", str(domain.profile)),
                  ("tomoyo_mode", mode), ("acl", access.line()), ("tomoyo_log", text))
        if granted:
            return Verdict(self.name, 0, "granted", rule, audit=True, cacheable=False,
                           fields=fields)
        reason = f"no ACL of {domain.name} grants {access.line()}"
        return Verdict(self.name, errno.EPERM, reason, "", complain=mode != "enforcing",
                       cacheable=False, fields=fields)

    def _queue(self, domain: Domain, index: str, granted: bool, text: str) -> None:
        prof = self.policy.profile(domain.profile)
        if prof is None or not prof.logs(index, granted):
            return
        if len(self.audit_log) >= prof.preference["max_audit_log"]:
            self.audit_dropped += 1
            return
        self.audit_log.append(text)

    def read_audit(self) -> list[str]:
        """Drain TOMOYO's log queue (as reading /sys/kernel/security/tomoyo/audit does)."""
        records = list(self.audit_log)
        self.audit_log.clear()
        return records

    def _learn(self, domain: Domain, prof: Profile | None, access: Access) -> None:
        """Append the ACL TOMOYO would learn, while the domain is under its quota."""
        limit = prof.preference["max_learning_entry"] if prof is not None else 2048
        if count_entries(domain) >= limit:
            domain.quota_exceeded = True
            return
        line = patternize(access.line())
        if access.index == "execute" and access.realpath:
            line += f' exec.realpath="{access.realpath}"'
            if access.argv and '"' not in access.argv[0]:
                line += f' exec.argv[0]="{access.argv[0]}"'
        try:
            acl = parse_acl(line.split(" "))
        except LineError:
            return  # a name TOMOYO could not learn either
        domain.acls.append(acl)
        self.learned.append((domain.name, line))
        self.reload()

    # -- file hooks ------------------------------------------------------------------------------

    def _file(self, req: Request, index: str, op: str, objs: tuple[Object, ...],
              numbers: tuple[int, ...] = (), formats: tuple[str, ...] = ()) -> Verdict | None:
        names = tuple(tomoyo_name(o, req.subject) for o in objs)
        if len(objs) == 2 and objs[0].is_dir:  # rename/link of a directory: both end in /
            names = tuple(n if n.endswith("/") else n + "/" for n in names)
        access = Access(index, "file", op, names, numbers, subject=req.subject,
                        path1=objs[0], path2=objs[1] if len(objs) > 1 else None,
                        number_formats=formats)
        verdict = self.check(req.subject, access)[0]
        if verdict is None and any(n.startswith("proc:/self") for n in names):
            # the name depends on the caller's pid, which the AVC key does not hold
            return Verdict(self.name, cacheable=False)
        return verdict

    def hook_file_open(self, req: Request) -> Verdict | None:
        """open: `read`, then `write` (or `append` for O_APPEND); an exec's open is the
        bprm hook's."""
        obj = req.obj
        if obj is None or req.access & MAY_EXEC:
            return None
        read = None
        if req.access & MAY_READ:
            read = self._file(req, "open", "read", (obj,))
            if read is not None and not read.allowed and not read.complain:
                return read
        if req.access & MAY_WRITE:
            op = "append" if req.access & MAY_APPEND else "write"
            write = self._file(req, "open", op, (obj,))
            if write is not None and (read is None or not write.allowed):
                return write
        return read

    def hook_inode_create(self, req: Request) -> Verdict | None:
        """creat / O_CREAT: `create PATH MODE`."""
        if req.obj is None:
            return None
        return self._file(req, "create", "create", (req.obj,), (req.obj.mode & 0o7777,),
                          ("0%o",))

    def hook_inode_mkdir(self, req: Request) -> Verdict | None:
        """mkdir: `mkdir PATH/ MODE`."""
        if req.obj is None:
            return None
        obj = Object(kind=req.obj.kind, path=req.obj.path, exists=False,
                     mode=stat.S_IFDIR | (req.obj.mode & 0o7777), parent=req.obj.parent)
        return self._file(req, "mkdir", "mkdir", (obj,), (req.obj.mode & 0o7777,), ("0%o",))

    def hook_inode_rmdir(self, req: Request) -> Verdict | None:
        """rmdir: `rmdir PATH/`."""
        return self._file(req, "rmdir", "rmdir", (req.obj,)) if req.obj is not None else None

    def hook_inode_unlink(self, req: Request) -> Verdict | None:
        """unlink: `unlink PATH`."""
        return self._file(req, "unlink", "unlink", (req.obj,)) if req.obj is not None else None

    def hook_inode_symlink(self, req: Request) -> Verdict | None:
        """symlink: `symlink PATH` (the new link)."""
        return self._file(req, "symlink", "symlink", (req.obj,)) if req.obj is not None \
            else None

    def hook_inode_mknod(self, req: Request) -> Verdict | None:
        """mknod: `mkfifo`/`mksock PATH MODE`, `mkblock`/`mkchar PATH MODE MAJOR MINOR`."""
        if req.obj is None:
            return None
        kind = stat.S_IFMT(req.obj.mode)
        op = _MKNOD.get(kind)
        if op is None:
            return self._file(req, "create", "create", (req.obj,), (req.obj.mode & 0o7777,),
                              ("0%o",))
        perm = req.obj.mode & 0o7777
        if op in ("mkblock", "mkchar"):
            dev = req.flags
            return self._file(req, op, op, (req.obj,), (perm, os.major(dev), os.minor(dev)),
                              ("0%o", "%d", "%d"))
        return self._file(req, op, op, (req.obj,), (perm,), ("0%o",))

    def hook_inode_rename(self, req: Request) -> Verdict | None:
        """rename: `rename OLD NEW`."""
        if req.obj is None or req.target is None:
            return None
        return self._file(req, "rename", "rename", (req.obj, req.target))

    def hook_inode_link(self, req: Request) -> Verdict | None:
        """link: `link OLD NEW`."""
        if req.obj is None or req.target is None:
            return None
        return self._file(req, "link", "link", (req.obj, req.target))

    def hook_inode_setattr(self, req: Request) -> Verdict | None:
        """chmod: `chmod PATH MODE`; chown: `chown PATH UID` and `chgrp PATH GID`."""
        if req.obj is None:
            return None
        if req.what == "chmod":
            return self._file(req, "chmod", "chmod", (req.obj,), (req.flags & 0o7777,),
                              ("0%o",))
        if req.what == "chown":  # as tomoyo_path_chown: each id that is set (-1: unchanged)
            uid, gid = chown_ids(req.flags)
            verdict = None
            if uid != -1:
                verdict = self._file(req, "chown", "chown", (req.obj,), (uid,), ("%d",))
                if verdict is not None and not verdict.allowed and not verdict.complain:
                    return verdict
            if gid != -1:
                return self._file(req, "chgrp", "chgrp", (req.obj,), (gid,), ("%d",)) or verdict
            return verdict
        return None

    # -- exec ------------------------------------------------------------------------------------

    def exec_strings(self, pid: int, argv: tuple[bytes, ...] | None,
                     envp: tuple[bytes, ...] | None) -> None:
        """The argv and envp of the exec `pid` is about to make (the supervisor reads them
        from its memory); the bprm hook uses them for exec.* conditions and `misc env`."""
        args = tuple(encode_name(a) for a in argv) if argv is not None else None
        env = None
        if envp is not None:
            env = tuple((encode_name(n), encode_name(v))
                        for n, _, v in (e.partition(b"=") for e in envp))
        self._exec_args[pid] = (args, env)
        self._exec_args.move_to_end(pid)
        while len(self._exec_args) > _PENDING_LIMIT:
            self._exec_args.popitem(last=False)

    def hook_bprm_check_security(self, req: Request) -> Verdict | None:
        """execve: `execute` in the old domain, the domain transition (domain.py), then
        `misc env` for each variable in the new domain."""
        if req.obj is None:
            return None
        argv, envp = self._exec_args.pop(req.subject.pid, (None, None))
        verdict, new = self.exec_transition(req.subject, req.obj, req.what, argv, envp)
        self._remember(req.subject.context(self.name) or KERNEL, self.exec_label(req.obj), new)
        # never answered from the AVC: the transition is computed here, for this exec
        return verdict if verdict is not None else Verdict(self.name, cacheable=False)

    def exec_transition(self, subject: Subject, exe: Object, given_name: str = "",
                        argv: tuple[str, ...] | None = None,
                        envp: tuple[tuple[str, str], ...] | None = None
                        ) -> tuple[Verdict | None, str]:
        """(verdict, the domain the task is in after the exec)."""
        verdict, new = self._transit(subject, exe, given_name, argv, envp)
        if verdict is not None and not verdict.allowed and not verdict.complain:
            return verdict, new
        env_verdict = self._environ(subject, new, envp)
        if env_verdict is not None and (verdict is None or not env_verdict.allowed):
            if not env_verdict.allowed and not env_verdict.complain:
                return env_verdict, subject.context(self.name) or KERNEL
            return env_verdict, new
        return verdict, new

    def _environ(self, subject: Subject, domain_name: str,
                 envp: tuple[tuple[str, str], ...] | None) -> Verdict | None:
        """tomoyo_environ: each variable's name checked as `misc env NAME` in the new
        domain; the first refusal (enforcing) fails the exec."""
        domain = self.policy.domains.get(domain_name)
        if domain is None or not envp:
            return None
        if self._mode(domain, "env")[1] == "disabled":
            return None
        entered = with_context(subject, self.name, domain_name)
        first: Verdict | None = None
        for name, _ in envp:
            verdict, _ = self.check(entered, Access("env", "misc env", "env", (name,),
                                                    subject=entered))
            if verdict is not None and not verdict.allowed:
                if not verdict.complain:
                    return verdict
                first = first or verdict
        return first

    def _transit(self, subject: Subject, exe: Object, given_name: str,
                 argv: tuple[str, ...] | None, envp: tuple[tuple[str, str], ...] | None
                 ) -> tuple[Verdict | None, str]:
        old_name = subject.context(self.name) or KERNEL
        exename = encode_name(given_name) if given_name else tomoyo_name(exe, subject)
        candidate = aggregate(self.policy, exename)
        access = Access("execute", "file", "execute", (candidate,), subject=subject, path1=exe,
                        realpath=tomoyo_name(exe, subject), argv=argv, envp=envp)
        verdict, match = self.check(subject, access)
        if verdict is not None and not verdict.allowed and not verdict.complain:
            return verdict, old_name
        if old_name == KERNEL and self.launch_domain and not self._launched:
            self._launched = True  # the program's own exec: it runs in the --context domain
            return verdict, self.launch_domain
        if match is not None and match.matched:
            candidate = match.matched
        current = self.policy.domains.get(old_name)
        if current is None:
            return verdict, old_name
        if match is not None and match.acl.transit:  # `file execute PATH PREFERENCE`
            target = preferred_domain(old_name, candidate, match.acl.transit)
        else:
            target = next_domain(self.policy, old_name, candidate)
        if target.how == "keep":
            return verdict, old_name
        entered = assign_domain(self.policy, target.domain, current)
        if entered is not None:
            return verdict, entered.name
        _, mode = self._mode(current, "execute")
        if target.reject_on_failure or mode == "enforcing":
            return self.deny(errno.ENOMEM, f"domain {target.domain!r} cannot be entered",
                             access.line(), cacheable=False,
                             fields=(("domain", old_name), ("acl", access.line()))), old_name
        current.transition_failed = True
        return verdict, old_name

    def _remember(self, old: str, exe_label: str, new: str) -> None:
        self._pending[(old, exe_label)] = new
        self._pending.move_to_end((old, exe_label))
        while len(self._pending) > _PENDING_LIMIT:
            self._pending.popitem(last=False)

    # -- the label-module protocol (modules.labels) ---------------------------------------

    def subject_label(self, subject: Subject) -> str:
        """The subject's domain, `<kernel>` when it has none."""
        return subject.context(self.name) or KERNEL

    def exec_label(self, exe: Object) -> str | None:
        """The executable's identity (device, inode, path): the key of its transition."""
        return f"{exe.dev}:{exe.ino}:{exe.path}"

    def transition(self, subject_label: str, exe_label: str | None) -> str:
        """The domain the bprm hook computed for this exec (the same one when none was)."""
        if not exe_label:
            return subject_label
        return self._pending.pop((subject_label, exe_label), subject_label)

    # -- network ---------------------------------------------------------------------------------

    def _network(self, req: Request, op: str) -> Verdict | None:
        obj = req.obj
        if obj is None:
            return None
        if obj.family == socket.AF_UNIX:
            proto = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram",
                     socket.SOCK_SEQPACKET: "seqpacket"}.get(obj.sock_type)
            if proto is None or not obj.address:
                return None
            if proto == "dgram" and op == "connect":
                op = "send"
            name = obj.address.replace("@", "\0", 1) if obj.address.startswith("@") else \
                obj.address
            access = Access(f"unix_{proto}_{op}", "network unix", op, (encode_name(name),),
                            proto=proto, subject=req.subject)
        elif obj.family in _INET:
            proto = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram",
                     socket.SOCK_RAW: "raw"}.get(obj.sock_type)
            if proto is None:
                return None
            if proto != "stream" and op == "connect":
                op = "send"
            access = Access(f"inet_{proto}_{op}", "network inet", op, proto=proto,
                            address=obj.address or ("::" if obj.family == socket.AF_INET6
                                                    else "0.0.0.0"),
                            port=obj.port, subject=req.subject)
        else:
            return None
        return self.check(req.subject, access)[0]

    def hook_socket_bind(self, req: Request) -> Verdict | None:
        """bind: `network inet|unix PROTO bind ADDRESS [PORT]`."""
        return self._network(req, "bind")

    def hook_socket_connect(self, req: Request) -> Verdict | None:
        """connect (stream, seqpacket) or send (datagram, raw): `network ... connect|send`."""
        return self._network(req, "connect")

    def hook_socket_listen(self, req: Request) -> Verdict | None:
        """listen: `network ... listen ADDRESS [PORT]` (the bound address)."""
        return self._network(req, "listen")

    # -- the learned policy ----------------------------------------------------------------------

    def domain_policy_text(self) -> str:
        """The domain policy as TOMOYO saves it: each domain, its profile and group, flags,
        its ACLs (learned ones included)."""
        out: list[str] = []
        for domain in self.policy.domains.values():
            out += [domain.name, f"use_profile {domain.profile}",
                    *(f"use_group {g}" for g in sorted(domain.groups))]
            if domain.quota_exceeded:
                out.append("quota_exceeded")
            if domain.transition_failed:
                out.append("transition_failed")
            out.append("")
            out += [acl.text for acl in domain.acls]
            out.append("")
        return "\n".join(out)
