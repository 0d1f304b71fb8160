"""DAC outside the filesystem: ptrace, signals, sockets, mounts, modules, bpf and perf.

The base of `stockade.modules.dac.Dac`: it holds the sysctls the checks depend on (read once,
at construction, so that every verdict stays cacheable) and the capability question.
Sources: kernel/ptrace.c (__ptrace_may_access), kernel/signal.c (check_kill_permission),
net/ipv4/af_inet.c, net/ipv4/ping.c, net/packet/af_packet.c, fs/namespace.c (may_mount),
kernel/module (may_init_module), kernel/kexec.c, kernel/bpf/syscall.c, kernel/events/core.c.
"""

from __future__ import annotations

import errno
import signal as _signal
import socket
from dataclasses import dataclass, field

from stockade.lsm.caps import (
    CAP_BPF,
    CAP_KILL,
    CAP_NET_BIND_SERVICE,
    CAP_NET_RAW,
    CAP_PERFMON,
    CAP_SYS_ADMIN,
    CAP_SYS_MODULE,
    CAP_SYS_PTRACE,
    cap_number,
)
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.types import PTRACE_MODE_FSCREDS, PTRACE_MODE_REALCREDS, Request

CAP_SYS_BOOT = cap_number("sys_boot")
_NSIG = 64


def read_sysctl(name: str, default: int) -> int:
    """The first integer of /proc/sys/`name`, or `default` when unreadable."""
    try:
        with open(f"/proc/sys/{name}") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return default


def _ping_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as f:
            low, high = f.read().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 1, 0


def _sysctl(name: str, default: int) -> int:
    return field(default_factory=lambda: read_sysctl(name, default))  # type: ignore[return-value]


@dataclass(kw_only=True)
class DacSystem(SecurityModule):
    """The non-file DAC checks, and the sysctls and capability test all DAC checks share."""

    protected_hardlinks: int = _sysctl("fs/protected_hardlinks", 1)
    ip_unprivileged_port_start: int = _sysctl("net/ipv4/ip_unprivileged_port_start", 1024)
    ping_group_range: tuple[int, int] = field(default_factory=_ping_range)
    unprivileged_bpf_disabled: int = _sysctl("kernel/unprivileged_bpf_disabled", 2)
    perf_event_paranoid: int = _sysctl("kernel/perf_event_paranoid", 2)
    modules_disabled: int = _sysctl("kernel/modules_disabled", 0)
    kexec_load_disabled: int = _sysctl("kernel/kexec_load_disabled", 0)

    def _cap(self, req: Request, cap: int) -> bool:
        """ns_capable() through the stack; outside a stack, the effective set decides."""
        if self.capable is None:
            return bool(req.subject.cap_effective >> cap & 1)
        return self.capable(req, cap)

    # -- tasks -----------------------------------------------------------------------------

    def hook_ptrace_access_check(self, req: Request) -> Verdict | None:
        """__ptrace_may_access(): same uids and gids or CAP_SYS_PTRACE, then dumpability.

        A task may always inspect itself; the subject's pid is not in the request key, so
        verdicts that could depend on it (that allow, and every denial) are not cacheable.
        """
        target = req.obj.task if req.obj is not None else None
        if target is None:
            return None
        mode = req.flags
        if bool(mode & PTRACE_MODE_FSCREDS) == bool(mode & PTRACE_MODE_REALCREDS):
            return self.deny(errno.EPERM, "ptrace mode needs exactly one of PTRACE_MODE_FSCREDS "
                             "and PTRACE_MODE_REALCREDS (the kernel warns and denies)")
        s = req.subject
        if s.pid and s.pid == target.pid:
            return Verdict(self.name, 0, "a task may inspect itself", cacheable=False)
        uid, gid = (s.fsuid, s.fsgid) if mode & PTRACE_MODE_FSCREDS else (s.uid, s.gid)
        same = (uid == target.uid == target.euid == target.suid
                and gid == target.gid == target.egid == target.sgid)
        if not same and not self._cap(req, CAP_SYS_PTRACE):
            kind = "fs" if mode & PTRACE_MODE_FSCREDS else "real"
            return self.deny(errno.EPERM, (
                f"pid {target.pid} has uids {target.uid}/{target.euid}/{target.suid} gids "
                f"{target.gid}/{target.egid}/{target.sgid}, not all the caller's {kind} "
                f"uid {uid} and gid {gid}; CAP_SYS_PTRACE not effective"), cacheable=False)
        if not target.dumpable and not self._cap(req, CAP_SYS_PTRACE):
            return self.deny(errno.EPERM, f"pid {target.pid} is not dumpable; CAP_SYS_PTRACE "
                             "not effective", cacheable=False)
        return None

    def hook_task_kill(self, req: Request) -> Verdict | None:
        """check_kill_permission(): kill_ok_by_cred() or CAP_KILL."""
        sig = req.signal
        if not 0 <= sig <= _NSIG:
            return self.deny(errno.EINVAL, f"{sig} is not a valid signal")
        target = req.obj.task if req.obj is not None else None
        if target is None:
            return None
        s = req.subject
        if (s.pid and s.pid == target.pid) or s.euid in (target.uid, target.suid) \
                or s.uid in (target.uid, target.suid) or self._cap(req, CAP_KILL):
            return None
        try:
            name = _signal.Signals(sig).name
        except ValueError:
            name = str(sig)
        return self.deny(errno.EPERM, (
            f"signal {name} to pid {target.pid}: the caller's uid {s.uid} and euid {s.euid} "
            f"match neither its uid {target.uid} nor saved uid {target.suid}; CAP_KILL not "
            "effective"))

    # -- sockets ---------------------------------------------------------------------------

    def hook_socket_create(self, req: Request) -> Verdict | None:
        """Raw and packet sockets need CAP_NET_RAW; ICMP datagram sockets need ping_group_range."""
        obj = req.obj
        if obj is None:
            return None
        family, sock_type = obj.family, obj.sock_type & 0xF
        inet = family in (socket.AF_INET, socket.AF_INET6)
        if (inet and sock_type == socket.SOCK_RAW) or family == socket.AF_PACKET:
            if self._cap(req, CAP_NET_RAW):
                return None
            kind = "packet" if family == socket.AF_PACKET else "raw IP"
            return self.deny(errno.EPERM, f"a {kind} socket needs CAP_NET_RAW, not effective")
        icmp = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
        if inet and sock_type == socket.SOCK_DGRAM and obj.protocol == icmp:
            low, high = self.ping_group_range
            s = req.subject
            if low <= s.egid <= high or any(low <= g <= high for g in s.groups):
                return None
            return self.deny(errno.EACCES, (
                f"ICMP datagram socket: no group of the caller is in net.ipv4.ping_group_range "
                f"{low} {high}"))
        return None

    def hook_socket_bind(self, req: Request) -> Verdict | None:
        """Binding an IP port below ip_unprivileged_port_start needs CAP_NET_BIND_SERVICE."""
        obj = req.obj
        if obj is None or obj.family not in (socket.AF_INET, socket.AF_INET6):
            return None
        if obj.sock_type & 0xF == socket.SOCK_RAW or not 0 < obj.port < \
                self.ip_unprivileged_port_start or self._cap(req, CAP_NET_BIND_SERVICE):
            return None
        return self.deny(errno.EACCES, (
            f"port {obj.port} is below net.ipv4.ip_unprivileged_port_start "
            f"({self.ip_unprivileged_port_start}); CAP_NET_BIND_SERVICE not effective"))

    # -- mounts, kernel --------------------------------------------------------------------

    def _admin(self, req: Request, what: str) -> Verdict | None:
        if self._cap(req, CAP_SYS_ADMIN):
            return None
        return self.deny(errno.EPERM, f"{what} needs CAP_SYS_ADMIN, not effective")

    def hook_sb_mount(self, req: Request) -> Verdict | None:
        """may_mount()."""
        return self._admin(req, "mount")

    def hook_sb_umount(self, req: Request) -> Verdict | None:
        """may_mount()."""
        return self._admin(req, "umount")

    def hook_sb_pivotroot(self, req: Request) -> Verdict | None:
        """may_mount()."""
        return self._admin(req, "pivot_root")

    def hook_kernel_read_file(self, req: Request) -> Verdict | None:
        """Module loading needs CAP_SYS_MODULE; kexec needs CAP_SYS_BOOT."""
        what = req.what
        if what in ("module", "kernel-module"):
            if self.modules_disabled:
                return self.deny(errno.EPERM, "kernel.modules_disabled is set")
            if not self._cap(req, CAP_SYS_MODULE):
                return self.deny(errno.EPERM, "loading a module needs CAP_SYS_MODULE, "
                                 "not effective")
        elif what.startswith("kexec") and (not self._cap(req, CAP_SYS_BOOT)
                                           or self.kexec_load_disabled):
            return self.deny(errno.EPERM, "kexec needs CAP_SYS_BOOT and "
                             "kernel.kexec_load_disabled unset")
        return None

    def hook_kernel_load_data(self, req: Request) -> Verdict | None:
        """init_module() and kexec_load(): as kernel_read_file."""
        return self.hook_kernel_read_file(req)

    def hook_bpf(self, req: Request) -> Verdict | None:
        """With kernel.unprivileged_bpf_disabled, map_create and prog_load need bpf_capable()."""
        cmd = req.what.lower().removeprefix("bpf_")
        if cmd not in ("", "map_create", "prog_load") or not self.unprivileged_bpf_disabled:
            return None
        if self._cap(req, CAP_BPF) or self._cap(req, CAP_SYS_ADMIN):
            return None
        return self.deny(errno.EPERM, (
            f"kernel.unprivileged_bpf_disabled={self.unprivileged_bpf_disabled}: bpf needs "
            "CAP_BPF or CAP_SYS_ADMIN, neither effective"))

    def hook_perf_event_open(self, req: Request) -> Verdict | None:
        """kernel.perf_event_paranoid: kernel (>1), cpu-wide (>0), tracepoint (>-1) events."""
        scope, paranoid = req.what, self.perf_event_paranoid
        limits = {"kernel": (1, errno.EACCES), "cpu": (0, errno.EACCES),
                  "tracepoint": (-1, errno.EPERM)}
        if scope not in limits or paranoid <= limits[scope][0]:
            return None
        if self._cap(req, CAP_PERFMON) or self._cap(req, CAP_SYS_ADMIN):
            return None
        return self.deny(limits[scope][1], (
            f"kernel.perf_event_paranoid={paranoid}: {scope} events need CAP_PERFMON or "
            "CAP_SYS_ADMIN, neither effective"))
