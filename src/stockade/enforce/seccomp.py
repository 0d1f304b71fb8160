"""A small typed ctypes binding to libseccomp (libseccomp.so.2) plus raw BPF loading.

Why our own binding rather than `pyseccomp` 0.1.2: that wrapper is untyped, dates from 2021,
resolves the library with `ctypes.util.find_library` (which forks `ldconfig`, tens of
milliseconds per launch), and raises bare OSErrors without the syscall or rule involved. The
part stockade needs is a dozen C functions, bound here with argtypes so that ctypes checks
every call.

The launcher compiles the filter with libseccomp in the parent (`SeccompFilter.export_bpf`)
and the child loads the finished BPF program with one seccomp(2) call (`BpfProgram.load`), so
nothing between fork and exec allocates or takes a lock.

Architecture: libseccomp filters check `seccomp_data.arch` first; any other architecture
(i386 through int 0x80, arm32 compat) takes the filter's bad-arch action. The x32 ABI shares
AUDIT_ARCH_X86_64 and is told apart only by bit 0x40000000 of the system call number, so
`guard_arch` prepends our own four instructions to the exported program: wrong architecture
or an x32 number -> the bad-arch action, before any libseccomp code runs. The protection does
not rest on a libseccomp detail, and a test checks the kernel refuses an x32 call.
"""

from __future__ import annotations

import ctypes
import enum
import os
import struct
from collections.abc import Callable, Sequence

from stockade.enforce._libc import MACHINE, raw_syscall, syscall_number
from stockade.errors import UnsupportedError
from stockade.slotted import Frozen

try:
    _LIB: ctypes.CDLL | None = ctypes.CDLL("libseccomp.so.2", use_errno=True)
except OSError:
    _LIB = None

# Kernel values (include/uapi/linux/seccomp.h, include/uapi/linux/audit.h).
SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1 << 0
SECCOMP_FILTER_FLAG_LOG = 1 << 1
SECCOMP_FILTER_FLAG_NEW_LISTENER = 1 << 3
AUDIT_ARCH_X86_64 = 0xC000003E
AUDIT_ARCH_I386 = 0x40000003
AUDIT_ARCH_AARCH64 = 0xC00000B7
SCMP_ARCH_X32 = 0x4000003E  # libseccomp's token: EM_X86_64 | __AUDIT_ARCH_LE
X32_SYSCALL_BIT = 0x40000000

NATIVE_ARCH = {"x86_64": AUDIT_ARCH_X86_64, "aarch64": AUDIT_ARCH_AARCH64}.get(MACHINE, 0)


class FilterAttr:
    """enum scmp_filter_attr, as ints (an IntEnum costs every run ~0.1 ms to create)."""

    ACT_DEFAULT = 1
    ACT_BADARCH = 2
    CTL_NNP = 3
    CTL_TSYNC = 4
    API_TSKIP = 5
    CTL_LOG = 6
    CTL_SSB = 7
    CTL_OPTIMIZE = 8
    API_SYSRAWRC = 9

    @classmethod
    def name_of(cls, attr: int) -> str:
        """`CTL_NNP` for 3 (the number itself for one not listed here)."""
        return next((k for k, v in vars(cls).items() if k.isupper() and v == attr), str(attr))


class Cmp(enum.IntEnum):
    """enum scmp_compare: how an argument is compared."""

    NE = 1
    LT = 2
    LE = 3
    EQ = 4
    GE = 5
    GT = 6
    MASKED_EQ = 7


class ActionKind(enum.Enum):
    """What the kernel does when a rule matches."""

    ALLOW = "allow"
    ERRNO = "errno"
    KILL_PROCESS = "kill-process"
    KILL_THREAD = "kill-thread"
    TRAP = "trap"
    LOG = "log"
    TRACE = "trace"
    NOTIFY = "user-notif"


class Action(Frozen):
    """A seccomp action; `value` is the errno for ERRNO and the message for TRACE."""

    FIELDS = ("kind", "value")
    __slots__ = FIELDS
    kind: ActionKind
    value: int

    def __init__(self, kind: ActionKind, value: int = 0) -> None:
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "value", value)

    def code(self) -> int:
        """The SECCOMP_RET_* / SCMP_ACT_* value."""
        k = self.kind
        if k is ActionKind.ERRNO:
            return 0x00050000 | (self.value & 0xFFFF)
        if k is ActionKind.TRACE:
            return 0x7FF00000 | (self.value & 0xFFFF)
        return {
            ActionKind.ALLOW: 0x7FFF0000,
            ActionKind.KILL_PROCESS: 0x80000000,
            ActionKind.KILL_THREAD: 0x00000000,
            ActionKind.TRAP: 0x00030000,
            ActionKind.LOG: 0x7FFC0000,
            ActionKind.NOTIFY: 0x7FC00000,
        }[k]

    def __str__(self) -> str:
        if self.kind is ActionKind.ERRNO:
            import errno as _errno

            return f"errno({_errno.errorcode.get(self.value, self.value)})"
        if self.kind is ActionKind.TRACE:
            return f"trace({self.value})"
        return self.kind.value


ALLOW = Action(ActionKind.ALLOW)
KILL_PROCESS = Action(ActionKind.KILL_PROCESS)
NOTIFY = Action(ActionKind.NOTIFY)
LOG = Action(ActionKind.LOG)


def errno_action(err: int) -> Action:
    """The action that fails the call with `err`."""
    return Action(ActionKind.ERRNO, err)


class ArgCmp(Frozen):
    """A condition on system call argument `arg` (0-5): `arg OP datum_a` (masked: & a == b)."""

    FIELDS = ("arg", "op", "datum_a", "datum_b")
    __slots__ = FIELDS
    arg: int
    op: Cmp
    datum_a: int
    datum_b: int

    def __init__(self, arg: int, op: Cmp, datum_a: int, datum_b: int = 0) -> None:
        object.__setattr__(self, "arg", arg)
        object.__setattr__(self, "op", op)
        object.__setattr__(self, "datum_a", datum_a)
        object.__setattr__(self, "datum_b", datum_b)

    def holds(self, value: int) -> bool:
        """Whether argument value `value` satisfies the comparison (as the filter tests)."""
        a = self.datum_a
        if self.op is Cmp.MASKED_EQ:
            return value & a == self.datum_b
        return {Cmp.NE: value != a, Cmp.LT: value < a, Cmp.LE: value <= a, Cmp.EQ: value == a,
                Cmp.GE: value >= a, Cmp.GT: value > a}[self.op]

    def __str__(self) -> str:
        if self.op is Cmp.MASKED_EQ:
            return f"arg{self.arg} & {self.datum_a:#x} == {self.datum_b:#x}"
        sym = {Cmp.NE: "!=", Cmp.LT: "<", Cmp.LE: "<=", Cmp.EQ: "==", Cmp.GE: ">=",
               Cmp.GT: ">"}[self.op]
        return f"arg{self.arg} {sym} {self.datum_a:#x}"


class _ScmpArgCmp(ctypes.Structure):
    _fields_ = [
        ("arg", ctypes.c_uint),
        ("op", ctypes.c_int),
        ("datum_a", ctypes.c_uint64),
        ("datum_b", ctypes.c_uint64),
    ]


class SeccompData(ctypes.Structure):
    """struct seccomp_data."""

    _fields_ = [
        ("nr", ctypes.c_int),
        ("arch", ctypes.c_uint32),
        ("instruction_pointer", ctypes.c_uint64),
        ("args", ctypes.c_uint64 * 6),
    ]


class SeccompNotif(ctypes.Structure):
    """struct seccomp_notif."""

    _fields_ = [
        ("id", ctypes.c_uint64),
        ("pid", ctypes.c_uint32),
        ("flags", ctypes.c_uint32),
        ("data", SeccompData),
    ]


class SeccompNotifResp(ctypes.Structure):
    """struct seccomp_notif_resp."""

    _fields_ = [
        ("id", ctypes.c_uint64),
        ("val", ctypes.c_int64),
        ("error", ctypes.c_int32),
        ("flags", ctypes.c_uint32),
    ]


SECCOMP_USER_NOTIF_FLAG_CONTINUE = 1


def _bind() -> ctypes.CDLL:
    if _LIB is None:
        raise UnsupportedError(
            "seccomp filters need libseccomp.so.2 (Debian/Ubuntu: apt-get install libseccomp2)"
        )
    return _LIB


if _LIB is not None:
    _c = ctypes
    _vp = _c.c_void_p
    for _name, _res, _args in (
        ("seccomp_init", _vp, [_c.c_uint32]),
        ("seccomp_release", None, [_vp]),
        ("seccomp_arch_add", _c.c_int, [_vp, _c.c_uint32]),
        ("seccomp_arch_exist", _c.c_int, [_vp, _c.c_uint32]),
        ("seccomp_attr_set", _c.c_int, [_vp, _c.c_int, _c.c_uint32]),
        ("seccomp_attr_get", _c.c_int, [_vp, _c.c_int, _c.POINTER(_c.c_uint32)]),
        ("seccomp_rule_add_array", _c.c_int,
         [_vp, _c.c_uint32, _c.c_int, _c.c_uint, _c.POINTER(_ScmpArgCmp)]),
        ("seccomp_load", _c.c_int, [_vp]),
        ("seccomp_export_bpf", _c.c_int, [_vp, _c.c_int]),
        ("seccomp_export_pfc", _c.c_int, [_vp, _c.c_int]),
        ("seccomp_syscall_resolve_name", _c.c_int, [_c.c_char_p]),
        ("seccomp_syscall_resolve_name_arch", _c.c_int, [_c.c_uint32, _c.c_char_p]),
        ("seccomp_syscall_resolve_num_arch", _vp, [_c.c_uint32, _c.c_int]),
        ("seccomp_notify_alloc", _c.c_int,
         [_c.POINTER(_c.POINTER(SeccompNotif)), _c.POINTER(_c.POINTER(SeccompNotifResp))]),
        ("seccomp_notify_free", None, [_c.POINTER(SeccompNotif), _c.POINTER(SeccompNotifResp)]),
        ("seccomp_notify_receive", _c.c_int, [_c.c_int, _c.POINTER(SeccompNotif)]),
        ("seccomp_notify_respond", _c.c_int, [_c.c_int, _c.POINTER(SeccompNotifResp)]),
        ("seccomp_notify_id_valid", _c.c_int, [_c.c_int, _c.c_uint64]),
        ("seccomp_notify_fd", _c.c_int, [_vp]),
    ):
        _fn = getattr(_LIB, _name)
        _fn.restype = _res
        _fn.argtypes = _args


def _check(rc: int, what: str) -> int:
    """libseccomp returns -errno on failure."""
    if rc < 0:
        raise OSError(-rc, f"{what}: {os.strerror(-rc)}")
    return rc


def resolve_syscall(name: str, arch: int = 0) -> int:
    """The number of system call `name` (native architecture unless `arch` is given).

    Raises KeyError for a name libseccomp does not know. Names that exist only on other
    architectures resolve to libseccomp's negative pseudo-numbers, which rules accept.
    """
    lib = _bind()
    raw = name.encode()
    nr = lib.seccomp_syscall_resolve_name_arch(arch, raw) if arch else \
        lib.seccomp_syscall_resolve_name(raw)
    if nr == -1:  # __NR_SCMP_ERROR
        if not arch:  # newer than this libseccomp: the kernel's own number, if we know it
            from stockade.enforce.mediation.kernel import newer_syscalls

            newer = newer_syscalls().get(name)
            if newer is not None:
                return newer
        raise KeyError(name)
    return int(nr)


class SeccompFilter:
    """A libseccomp filter context: default action, architectures, rules."""

    def __init__(self, default: Action, bad_arch: Action = KILL_PROCESS) -> None:
        lib = _bind()
        ctx = lib.seccomp_init(default.code())
        if not ctx:
            raise OSError(0, "seccomp_init failed (bad default action?)")
        self._ctx: int | None = ctx
        self.set_attr(FilterAttr.API_SYSRAWRC, 1)
        self.set_attr(FilterAttr.ACT_BADARCH, bad_arch.code())
        # no_new_privs is the launcher's job (one prctl for Landlock and seccomp alike).
        self.set_attr(FilterAttr.CTL_NNP, 0)

    @property
    def ctx(self) -> int:
        """The scmp_filter_ctx pointer (raises once released)."""
        if self._ctx is None:
            raise ValueError("seccomp filter already released")
        return self._ctx

    def set_attr(self, attr: int, value: int) -> None:
        """seccomp_attr_set (`attr`: a FilterAttr)."""
        rc = _bind().seccomp_attr_set(self.ctx, attr, value)
        _check(rc, f"seccomp_attr_set({FilterAttr.name_of(attr)})")

    def get_attr(self, attr: int) -> int:
        """seccomp_attr_get."""
        out = ctypes.c_uint32()
        _check(_bind().seccomp_attr_get(self.ctx, attr, ctypes.byref(out)), "seccomp_attr_get")
        return out.value

    def arch_add(self, arch: int) -> None:
        """Add an architecture token (AUDIT_ARCH_*) to the filter."""
        _check(_bind().seccomp_arch_add(self.ctx, arch), "seccomp_arch_add")

    def arch_exist(self, arch: int) -> bool:
        """Whether the filter covers architecture `arch`."""
        rc = _bind().seccomp_arch_exist(self.ctx, arch)
        if rc == 0:
            return True
        if rc == -17:  # -EEXIST: "does not exist" in libseccomp's convention
            return False
        _check(rc, "seccomp_arch_exist")
        return False

    def add_rule(self, action: Action, syscall: str | int, conds: Sequence[ArgCmp] = ()) -> None:
        """Add `action` for `syscall` when every condition in `conds` holds."""
        nr = resolve_syscall(syscall) if isinstance(syscall, str) else syscall
        arr = (_ScmpArgCmp * max(1, len(conds)))()
        for i, c in enumerate(conds):
            if not 0 <= c.arg <= 5:
                raise ValueError(f"seccomp argument index must be 0-5, not {c.arg}")
            arr[i] = _ScmpArgCmp(c.arg, int(c.op), c.datum_a, c.datum_b)
        rc = _bind().seccomp_rule_add_array(self.ctx, action.code(), nr, len(conds), arr)
        if rc < 0:  # the message only when it is needed: a plain run adds ~150 rules
            _check(rc, f"seccomp rule {action} {syscall}")

    def export_bpf(self) -> bytes:
        """The compiled BPF program (struct sock_filter array)."""
        return self._export(_bind().seccomp_export_bpf, "seccomp_export_bpf")

    def export_pfc(self) -> str:
        """The filter as libseccomp's human-readable pseudo filter code."""
        return self._export(_bind().seccomp_export_pfc, "seccomp_export_pfc").decode()

    def _export(self, fn: Callable[[int, int], int], what: str) -> bytes:
        fd = os.memfd_create("stockade-seccomp", os.MFD_CLOEXEC)
        try:
            _check(fn(self.ctx, fd), what)
            size = os.lseek(fd, 0, os.SEEK_END)
            return os.pread(fd, size, 0)
        finally:
            os.close(fd)

    def load(self) -> None:
        """seccomp_load: install the filter on the calling thread."""
        _check(_bind().seccomp_load(self.ctx), "seccomp_load")

    def notify_fd(self) -> int:
        """The user-notification listener fd of a loaded filter (-1 if none)."""
        return int(_bind().seccomp_notify_fd(self.ctx))

    def release(self) -> None:
        """Free the libseccomp context."""
        if self._ctx is not None:
            _bind().seccomp_release(self._ctx)
            self._ctx = None

    def __enter__(self) -> SeccompFilter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:
        if getattr(self, "_ctx", None) is not None and _LIB is not None:
            self.release()


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


_BPF_LD_W_ABS = 0x20
_BPF_JEQ_K = 0x15
_BPF_JGE_K = 0x35
_BPF_RET_K = 0x06


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, jt, jf, k & 0xFFFFFFFF)


def guard_arch(program: bytes, bad_arch: Action, arch: int = NATIVE_ARCH,
               limit: int | None = None) -> bytes:
    """`program` behind a check: another architecture, an x32 call on x86_64, or (with
    `limit`) a system call number >= `limit` -> `bad_arch`.

    `limit` is one above the highest number of the mediation table: a system call a newer
    kernel adds has no mediator yet, so it is refused. Relative jumps inside `program` are
    unaffected by instructions placed before it.
    """
    if not arch:
        raise UnsupportedError(f"no seccomp architecture check for machine {MACHINE}")
    ret_bad = _insn(_BPF_RET_K, 0, 0, bad_arch.code())
    head = _insn(_BPF_LD_W_ABS, 0, 0, 4) + _insn(_BPF_JEQ_K, 1, 0, arch) + ret_bad
    bound = limit if limit is not None else 0
    if arch == AUDIT_ARCH_X86_64:
        bound = min(bound or X32_SYSCALL_BIT, X32_SYSCALL_BIT)
    if bound:
        head += _insn(_BPF_LD_W_ABS, 0, 0, 0) + _insn(_BPF_JGE_K, 0, 1, bound) + ret_bad
    return head + program


class BpfProgram:
    """A compiled classic-BPF seccomp program, ready to load with one system call."""

    def __init__(self, code: bytes) -> None:
        if not code or len(code) % 8:
            raise ValueError("a seccomp BPF program is a non-empty array of 8-byte instructions")
        if len(code) // 8 > 4096:
            raise ValueError("seccomp BPF program longer than BPF_MAXINSNS (4096)")
        self.code = code
        self._buf = ctypes.create_string_buffer(code, len(code))
        self._fprog = _SockFprog(len(code) // 8, ctypes.addressof(self._buf))
        self._nr = syscall_number("seccomp")

    def load(self, flags: int = 0) -> int:
        """seccomp(SECCOMP_SET_MODE_FILTER, flags, prog); returns the listener fd if asked."""
        return raw_syscall(self._nr, SECCOMP_SET_MODE_FILTER, flags, ctypes.byref(self._fprog))


class Notification:
    """A user-notification buffer pair from seccomp_notify_alloc (for the supervisor)."""

    def __init__(self) -> None:
        lib = _bind()
        self._req = ctypes.POINTER(SeccompNotif)()
        self._resp = ctypes.POINTER(SeccompNotifResp)()
        _check(lib.seccomp_notify_alloc(ctypes.byref(self._req), ctypes.byref(self._resp)),
               "seccomp_notify_alloc")

    def receive(self, fd: int) -> SeccompNotif:
        """Block until the next notification on listener `fd`."""
        _check(_bind().seccomp_notify_receive(fd, self._req), "seccomp_notify_receive")
        return self._req.contents

    def respond(self, fd: int, val: int = 0, error: int = 0, flags: int = 0) -> None:
        """Answer the last received notification: `error` is a positive errno or 0."""
        resp = self._resp.contents
        resp.id = self._req.contents.id
        resp.val = val
        resp.error = -error if error > 0 else error
        resp.flags = flags
        _check(_bind().seccomp_notify_respond(fd, self._resp), "seccomp_notify_respond")

    def __del__(self) -> None:
        if _LIB is not None and getattr(self, "_req", None):
            _LIB.seccomp_notify_free(self._req, self._resp)
            self._req = None  # type: ignore[assignment]


def notify_id_valid(fd: int, notif_id: int) -> bool:
    """Whether notification `notif_id` is still pending (the target has not died or moved on)."""
    return _bind().seccomp_notify_id_valid(fd, notif_id) == 0
