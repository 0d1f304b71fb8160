"""The Landlock binding against the running kernel (no launcher involved)."""

import errno
import os

import pytest
from confine_helpers import in_child

from stockade.enforce import landlock as ll
from stockade.enforce import prctl
from stockade.errors import UnsupportedError


def test_abi_and_errata_probe():
    st = ll.status()
    assert st.abi >= 1
    assert st.errata >= 0
    assert st.kernel_hint == ll.ABI_KERNEL.get(st.abi, "?")


def test_rights_per_abi():
    assert ll.AccessFs.REFER not in ll.rights_for_abi(ll.AccessFs, 1)
    assert ll.AccessFs.REFER in ll.rights_for_abi(ll.AccessFs, 2)
    assert ll.AccessFs.TRUNCATE not in ll.rights_for_abi(ll.AccessFs, 2)
    assert ll.AccessFs.IOCTL_DEV not in ll.rights_for_abi(ll.AccessFs, 4)
    assert ll.rights_for_abi(ll.AccessFs, 5) == ll.ALL_FS
    assert not ll.rights_for_abi(ll.AccessNet, 3)
    assert ll.rights_for_abi(ll.AccessNet, 4) == ll.ALL_NET
    assert not ll.rights_for_abi(ll.Scope, 5)
    assert ll.rights_for_abi(ll.Scope, 6) == ll.ALL_SCOPES
    assert not ll.rights_for_abi(ll.RestrictFlag, 6)
    assert len(ll.rights_for_abi(ll.RestrictFlag, 7)) == 3


def test_constants_match_uapi_header():
    # include/uapi/linux/landlock.h
    assert ll.AccessFs.MAKE_SYM == 1 << 12
    assert ll.AccessFs.IOCTL_DEV == 1 << 15
    assert ll.AccessNet.CONNECT_TCP == 2
    assert ll.Scope.SIGNAL == 2
    assert ll.RestrictFlag.LOG_SUBDOMAINS_OFF == 4


def test_missing_feature_message_names_abi_and_kernel():
    assert ll.needs("Landlock TCP rules", 4) == "Landlock TCP rules need ABI 4 (Linux 6.7)"
    with pytest.raises(UnsupportedError, match=r"bind_tcp needs ABI 4 \(Linux 6\.7\)"):
        ll.Ruleset(ll.AccessFs.READ_FILE, ll.AccessNet.BIND_TCP, abi=3)
    with pytest.raises(UnsupportedError, match=r"ABI 6 \(Linux 6\.12\)"):
        ll.Ruleset(ll.AccessFs.READ_FILE, scoped=ll.Scope.SIGNAL, abi=5)


def test_directory_rights_on_a_file_are_rejected_by_the_kernel():
    with ll.Ruleset(ll.ALL_FS) as rs:
        with pytest.raises(OSError) as exc:
            rs.add_path("/etc/hostname", ll.AccessFs.READ_DIR)
        assert exc.value.errno == errno.EINVAL
        rs.add_path("/etc/hostname", ll.AccessFs.READ_FILE)  # a file right is fine


def test_restrict_self_in_child_denies_and_grants():
    def child() -> int:
        rs = ll.Ruleset(ll.AccessFs.READ_FILE | ll.AccessFs.READ_DIR)
        rs.add_path("/usr", ll.AccessFs.READ_FILE)
        prctl.set_no_new_privs()
        rs.restrict_self()
        with open("/usr/bin/true", "rb"):
            pass
        try:
            open("/etc/hostname").close()
        except PermissionError:
            return 0
        return 1

    assert in_child(child) == 0


def test_restrict_self_needs_no_new_privs_when_unprivileged():
    def child() -> int:
        os.setgroups([])
        os.setresuid(65534, 65534, 65534)
        rs = ll.Ruleset(ll.AccessFs.READ_FILE)
        try:
            rs.restrict_self()
        except OSError as err:
            return 0 if err.errno == errno.EPERM else 2
        return 1

    assert in_child(child) == 0


@pytest.mark.skipif(ll.abi_version() < 7, reason="needs Landlock ABI 7")
def test_log_flags_with_ruleset_fd_minus_one():
    def child() -> int:
        prctl.set_no_new_privs()
        ll.restrict_self(-1, ll.RestrictFlag.LOG_SUBDOMAINS_OFF)  # allowed without a ruleset
        try:  # any other flag needs a real ruleset
            ll.restrict_self(-1, ll.RestrictFlag.LOG_NEW_EXEC_ON)
        except OSError as err:
            return 0 if err.errno == errno.EBADF else 2
        return 1

    assert in_child(child) == 0


def test_tcp_port_range_checked():
    with ll.Ruleset(ll.AccessFs.READ_FILE, ll.AccessNet.CONNECT_TCP) as rs, \
            pytest.raises(ValueError):
        rs.add_port(70000, ll.AccessNet.CONNECT_TCP)
