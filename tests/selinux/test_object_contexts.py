"""New objects' contexts as security_compute_sid() makes them, and the importer's type rules."""

from __future__ import annotations

from stockade.modules.selinux.policy import Policy, is_socket_class


def test_a_new_socket_keeps_the_creators_role_and_full_range(mini_policy: Policy) -> None:
    scon = mini_policy.parse_context("user_u:user_r:user_t:s0-s1:c0")
    for tclass in ("tcp_socket", "udp_socket", "unix_stream_socket"):
        sock = mini_policy.compute_create(scon, scon, tclass)
        assert (sock.user, sock.role, sock.type) == ("user_u", "user_r", "user_t")
        assert sock.range == scon.range and sock.range.low != sock.range.high
    # a file still gets object_r and the creator's low level
    tmp = mini_policy.parse_context("system_u:object_r:tmp_t:s0")
    new = mini_policy.compute_create(scon, tmp, "file")
    assert new.role == "object_r" and new.range.low == new.range.high == scon.range.low


def test_socket_classes() -> None:
    assert is_socket_class("socket") and is_socket_class("netlink_audit_socket")
    assert not is_socket_class("file") and not is_socket_class("process")


def test_importer_keeps_type_change_type_member_and_typebounds(debian_policy: Policy) -> None:
    p = debian_policy
    kinds = {r.kind for r in p.type_rules}
    assert {"type_transition", "type_change", "type_member"} <= kinds
    assert p.type_change and p.type_member
    (_s, _t, tclass), new = next(iter(p.type_change.items()))
    assert tclass in p.classes and p.type_names[new]
    assert any(r.cond is not None for r in p.type_rules)  # conditional ones are kept too
    # Debian's refpolicy has no typebounds; the dump carries the (empty) list
    assert isinstance(p.typebounds, dict)
