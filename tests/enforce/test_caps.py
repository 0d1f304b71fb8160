"""Capabilities: the name table, capget, and what a confined child really holds."""

import errno
import os
import shutil
import socket

import pytest
from confine_helpers import confined, plan_with, probe, script

from stockade.enforce import caps


def test_cap_table():
    assert len(caps.CAP_NAMES) == 41
    assert caps.CAP_BY_NAME["CAP_CHOWN"] == 0
    assert caps.CAP_BY_NAME["CAP_NET_BIND_SERVICE"] == 10
    assert caps.CAP_BY_NAME["CAP_SYS_ADMIN"] == 21
    assert caps.CAP_BY_NAME["CAP_CHECKPOINT_RESTORE"] == 40
    assert caps.cap_number("net_raw") == caps.cap_number("CAP_NET_RAW") == 13
    assert caps.cap_number("7") == 7
    assert caps.cap_name(41) == "cap_41"
    with pytest.raises(ValueError):
        caps.cap_number("CAP_NOPE")
    assert caps.last_cap() >= 40
    assert caps.names_of(caps.mask_of([0, 10])) == ["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]


def test_capget_root_has_sys_admin():
    state = caps.capget()
    assert state.has_effective(caps.CAP_BY_NAME["CAP_SYS_ADMIN"])
    assert caps.bounding_has(caps.CAP_BY_NAME["CAP_SYS_ADMIN"])


STATUS = script("""
fields = dict(l.split(":", 1) for l in open("/proc/self/status") if ":" in l)
for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp"):
    print(k, fields[k].strip())
print("SecureBits", libc.prctl(27, 0, 0, 0, 0))  # PR_GET_SECUREBITS
""")


def _status(result) -> dict[str, str]:
    return dict(line.split() for line in result.out.splitlines())


def test_confined_child_holds_no_capability(user):
    res = confined(plan_with(ro=["/proc"]), STATUS, user=user)
    st = _status(res)
    assert st["CapEff"] == st["CapPrm"] == st["CapAmb"] == st["CapInh"] == "0000000000000000"
    if user == "root":  # only a CAP_SETPCAP holder can trim the bounding set and lock bits
        assert st["CapBnd"] == "0000000000000000"
        assert int(st["SecureBits"]) == caps.LOCKED_NOROOT
    else:
        assert st["SecureBits"] == "0"
    assert st["NoNewPrivs"] == "1"
    assert st["Seccomp"] == "2"


def test_kept_capability_survives_exec_as_root():
    bind_service = caps.CAP_BY_NAME["CAP_NET_BIND_SERVICE"]
    res = confined(plan_with(ro=["/proc"], keep_caps=[bind_service]), STATUS)
    st = _status(res)
    assert st["CapEff"] == st["CapPrm"] == st["CapBnd"] == f"{1 << bind_service:016x}"
    assert st["CapInh"] == f"{1 << bind_service:016x}"  # kept & what the bounding set kept
    assert st["SecureBits"] == "0"  # NOROOT would cost root the kept capability at exec


def test_kept_capability_the_bounding_set_lacks_is_not_inherited():
    """A launcher whose bounding set already lacks a kept capability (and one it drops): the
    child trims the rest, and its inheritable set is only what the bounding set kept."""
    bind_service = caps.CAP_BY_NAME["CAP_NET_BIND_SERVICE"]
    net_raw = caps.CAP_BY_NAME["CAP_NET_RAW"]

    def lower_bounding() -> None:
        caps.drop_bounding(bind_service)
        caps.drop_bounding(caps.CAP_BY_NAME["CAP_SYS_ADMIN"])

    res = confined(plan_with(ro=["/proc"], keep_caps=[bind_service, net_raw]), STATUS,
                   before=lower_bounding)
    st = _status(res)
    assert st["CapBnd"] == st["CapInh"] == st["CapEff"] == f"{1 << net_raw:016x}", res


def test_chown_fails_after_capability_drop(tmp_path):
    target = tmp_path / "f"
    target.write_text("x")
    attempt = f"os.chown({str(target)!r}, 65534, 65534)"
    control = confined(None, probe(attempt))
    assert control.lines == ["OK"]
    os.chown(target, 0, 0)
    res = confined(plan_with(rw=[str(tmp_path)]), probe(attempt))
    assert res.lines == [errno.errorcode[errno.EPERM]]


def _free_low_port() -> int:
    for port in range(80, 1024):
        with socket.socket() as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024")


def test_privileged_port_needs_cap_net_bind_service():
    port = _free_low_port()
    bind = f"socket.socket().bind(('127.0.0.1', {port}))"
    dropped = confined(plan_with(bind=[port]), probe(bind))
    assert dropped.lines == ["EACCES"]
    kept = confined(plan_with(bind=[port], keep_caps=[caps.CAP_BY_NAME["CAP_NET_BIND_SERVICE"]]),
                    probe(bind))
    assert kept.lines == ["OK"]


def test_setuid_binary_gains_nothing_under_no_new_privs():
    import tempfile

    d = tempfile.mkdtemp(prefix="stockade-suid-", dir="/tmp")
    try:
        os.chmod(d, 0o755)
        suid_id = os.path.join(d, "id")
        shutil.copy("/usr/bin/id", suid_id)
        os.chown(suid_id, 0, 0)
        os.chmod(suid_id, 0o4755)
        control = confined(None, [suid_id], user="nobody")
        assert "euid=0(root)" in control.out, control  # the setuid bit works on this fs
        res = confined(plan_with(rx=["/usr", d], ro=["/etc"]), [suid_id], user="nobody")
        assert res.status == 0, res
        assert "uid=65534" in res.out and "euid=0" not in res.out
    finally:
        shutil.rmtree(d)
