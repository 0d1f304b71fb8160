"""The libseccomp binding, the arch guard and the user-notification API, on the real kernel."""

import errno
import os
import socket
import struct

import pytest
from confine_helpers import IS_X86_64, in_child

from stockade.enforce import prctl
from stockade.enforce import seccomp as sc


def test_action_codes_match_libseccomp_header():
    assert sc.ALLOW.code() == 0x7FFF0000
    assert sc.KILL_PROCESS.code() == 0x80000000
    assert sc.NOTIFY.code() == 0x7FC00000
    assert sc.LOG.code() == 0x7FFC0000
    assert sc.errno_action(errno.EPERM).code() == 0x00050001
    assert sc.Action(sc.ActionKind.TRACE, 7).code() == 0x7FF00007
    assert str(sc.errno_action(errno.ENOSYS)) == "errno(ENOSYS)"


@pytest.mark.skipif(not IS_X86_64, reason="x86_64 numbers")
def test_resolve_names():
    assert sc.resolve_syscall("read") == 0
    assert sc.resolve_syscall("clone3") == 435
    with pytest.raises(KeyError):
        sc.resolve_syscall("no_such_call")


def test_filter_with_conditions_compiles():
    with sc.SeccompFilter(sc.ALLOW) as f:
        f.add_rule(sc.errno_action(errno.EPERM), "socket", [sc.ArgCmp(0, sc.Cmp.EQ, 2)])
        f.add_rule(sc.errno_action(errno.EPERM), "clone",
                   [sc.ArgCmp(0, sc.Cmp.MASKED_EQ, 0x10000000, 0x10000000)])
        assert f.arch_exist(sc.NATIVE_ARCH)
        assert f.get_attr(sc.FilterAttr.CTL_NNP) == 0
        f.set_attr(sc.FilterAttr.CTL_OPTIMIZE, 2)
        assert f.get_attr(sc.FilterAttr.CTL_OPTIMIZE) == 2
        with pytest.raises(OSError, match=r"seccomp_attr_set\(CTL_OPTIMIZE\)"):
            f.set_attr(sc.FilterAttr.CTL_OPTIMIZE, 99)  # libseccomp knows levels 1 and 2
        pfc = f.export_pfc()
        assert "socket" in pfc and "clone" in pfc
        code = f.export_bpf()
        assert len(code) % 8 == 0 and len(code) > 8
        with pytest.raises(ValueError):
            f.add_rule(sc.ALLOW, "read", [sc.ArgCmp(6, sc.Cmp.EQ, 0)])


def test_arch_guard_prefix():
    body = struct.pack("=HBBI", 0x06, 0, 0, sc.ALLOW.code())
    guarded = sc.guard_arch(body, sc.errno_action(errno.ENOSYS), sc.AUDIT_ARCH_X86_64)
    insns = [struct.unpack("=HBBI", guarded[i:i + 8]) for i in range(0, len(guarded), 8)]
    assert insns[0] == (0x20, 0, 0, 4)  # load arch
    assert insns[1] == (0x15, 1, 0, sc.AUDIT_ARCH_X86_64)
    assert insns[4] == (0x35, 0, 1, 0x40000000)  # x32 bit
    assert insns[-1] == (0x06, 0, 0, sc.ALLOW.code())
    with pytest.raises(ValueError):
        sc.BpfProgram(b"\0" * 7)


def test_argument_filter_enforced_by_kernel():
    def child() -> int:
        with sc.SeccompFilter(sc.ALLOW) as f:
            f.add_rule(sc.errno_action(errno.EPROTONOSUPPORT), "socket",
                       [sc.ArgCmp(0, sc.Cmp.EQ, socket.AF_INET)])
            prog = sc.BpfProgram(sc.guard_arch(f.export_bpf(), sc.KILL_PROCESS))
        prctl.set_no_new_privs()
        prog.load()
        socket.socket(socket.AF_UNIX).close()  # other families still work
        try:
            socket.socket(socket.AF_INET)
        except OSError as err:
            return 0 if err.errno == errno.EPROTONOSUPPORT else 2
        return 1

    assert in_child(child) == 0


def test_user_notification_round_trip():
    """The notify API for the future supervisor: the child's getppid() is answered by us."""
    parent_sock, child_sock = socket.socketpair()
    getppid = sc.resolve_syscall("getppid")

    pid = os.fork()
    if pid == 0:
        code = 99
        try:
            with sc.SeccompFilter(sc.ALLOW) as f:
                f.add_rule(sc.NOTIFY, getppid)
                prog = sc.BpfProgram(sc.guard_arch(f.export_bpf(), sc.KILL_PROCESS))
            prctl.set_no_new_privs()
            listener = prog.load(sc.SECCOMP_FILTER_FLAG_NEW_LISTENER)
            socket.send_fds(child_sock, [b"x"], [listener])
            os.close(listener)
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            rc = libc.syscall(getppid)
            code = 0 if rc == -1 and ctypes.get_errno() == errno.EXDEV else 3
        finally:
            os._exit(code)
    _, fds, _, _ = socket.recv_fds(parent_sock, 1, 1)
    listener = fds[0]
    note = sc.Notification()
    req = note.receive(listener)
    assert req.pid == pid
    assert req.data.nr == getppid
    assert req.data.arch == sc.NATIVE_ARCH
    assert sc.notify_id_valid(listener, req.id)
    note.respond(listener, error=errno.EXDEV)
    _, status = os.waitpid(pid, 0)
    os.close(listener)
    assert os.waitstatus_to_exitcode(status) == 0
