"""The CIL parser and compiler: each statement kind, namespaces, macros, optionals, errors."""

import os
import shutil
import subprocess

import pytest

from stockade.errors import StockadeError
from stockade.modules.selinux.cil.build import load_cil
from stockade.modules.selinux.cil.parser import Atom, CilError, SList, parse

MINI = os.path.join(os.path.dirname(__file__), "data", "mini.cil")

BASE = """
(class file (read write open getattr execute entrypoint))
(class process (transition signal))
(classorder (file process))
(sid kernel)
(sidorder (kernel))
(role object_r)
(role r)
(user u)
(userrole u r)
(type t)
(type f_t)
(roletype r t)
(roletype object_r f_t)
(sidcontext kernel (u r t))
"""


def build(extra, name="t.cil"):
    return load_cil(texts=[(name, BASE + extra)])


def line_of(extra, needle):
    lines = (BASE + extra).splitlines()
    return len(lines) - lines[::-1].index(needle)


def test_parse_positions_strings_and_comments():
    (stmt,) = parse('; comment\n(typetransition a b file "name with space" c) ; tail\n', "x.cil")
    assert isinstance(stmt, SList) and stmt.head == "typetransition"
    assert (stmt.pos.line, stmt.pos.col) == (2, 1)
    quoted = stmt.items[4]
    assert isinstance(quoted, Atom) and quoted.quoted and quoted.value == "name with space"
    assert (quoted.pos.line, quoted.pos.col) == (2, 26)


@pytest.mark.parametrize("text, where, what", [
    ("(allow a b", "x.cil:1:1", "unclosed"),
    ("(a))", "x.cil:1:4", "unbalanced"),
    ('(a "open\n)', "x.cil:1:4", "unterminated"),
    ("word", "x.cil:1:1", "expected a statement"),
])
def test_syntax_errors_have_positions(text, where, what):
    with pytest.raises(CilError) as err:
        parse(text, "x.cil")
    assert str(err.value).startswith(where) and what in str(err.value)


@pytest.mark.parametrize("extra, needle, what", [
    ("\n(allow t nope_t (file (read)))", "(allow t nope_t (file (read)))",
     "unknown type or attribute 'nope_t'"),
    ("\n(allow t f_t (file (fly)))", "(allow t f_t (file (fly)))", "has no permission 'fly'"),
    ("\n(allow t f_t (nofile (read)))", "(allow t f_t (nofile (read)))", "unknown class or classmap"),
    ("\n(frobnicate t)", "(frobnicate t)", "unknown statement 'frobnicate'"),
    ("\n(allow t f_t)", "(allow t f_t)", "wrong number of arguments"),
    ("\n(type t)", "(type t)", "already declared"),
    ("\n(booleanif (nob) (true (allow t f_t (file (read)))))",
     "(booleanif (nob) (true (allow t f_t (file (read)))))", "unknown boolean"),
    ("\n(typetransition t f_t file t)\n(typetransition t f_t file f_t)", "(typetransition t f_t file f_t)",
     "conflicting typetransition"),
])
def test_semantic_errors_name_file_line_col(extra, needle, what):
    with pytest.raises(CilError) as err:
        build(extra)
    line = line_of(extra, needle)
    assert str(err.value).startswith(f"t.cil:{line}:") and what in str(err.value)


def test_load_errors_are_stockade_errors_not_tracebacks(tmp_path):
    with pytest.raises(StockadeError, match="cannot read policy"):
        load_cil([str(tmp_path / "none.cil")])


def test_attributes_with_set_expressions():
    p = build("""
(type a_t)(type b_t)(type c_t)
(roletype object_r (a_t b_t c_t))
(typeattribute one)(typeattribute two)(typeattribute both)(typeattribute either)(typeattribute neither)
(typeattribute x)(typeattribute everything)
(typeattributeset one (a_t b_t))
(typeattributeset two (b_t c_t))
(typeattributeset both (and one two))
(typeattributeset either (or one two))
(typeattributeset x (xor one two))
(typeattributeset neither (not either))
(typeattributeset everything (all))
(typeattributeset everything (one))
""")
    names = lambda attr: {p.type_names[t] for t in p.expand(p.type_id(attr))}  # noqa: E731
    assert names("both") == {"b_t"}
    assert names("either") == {"a_t", "b_t", "c_t"}
    assert names("x") == {"a_t", "c_t"}
    assert names("neither") == {"t", "f_t"}
    assert names("everything") == {"t", "f_t", "a_t", "b_t", "c_t"}


def test_attribute_cycles_are_errors():
    with pytest.raises(CilError, match="in terms of itself"):
        build("(typeattribute a)(typeattribute b)(typeattributeset a (b))(typeattributeset b (a))")


def test_classpermission_classmap_and_perm_expressions():
    p = build("""
(classpermission rw)
(classpermissionset rw (file (read write)))
(classmap files (r))
(classmapping files r (file (read open)))
(allow t f_t rw)
(allow t t (process (all)))
(allow t f_t (files (r)))
(auditallow t f_t (file (not (read write open getattr entrypoint))))
""")
    av = p.te_av(p.type_id("t"), p.type_id("f_t"), "file")
    assert p.classes["file"].names(av[0]) == ["read", "write", "open"]
    assert p.classes["file"].names(av[1]) == ["execute"]
    assert p.classes["process"].names(p.te_av(p.type_id("t"), p.type_id("t"), "process")[0]) == \
        ["transition", "signal"]


def test_blocks_in_blockinherit_and_dotted_names():
    p = build("""
(block tmpl (blockabstract tmpl) (type exec_t) (roletype object_r exec_t) (allow t exec_t (file (read))))
(block app (blockinherit tmpl) (type data_t) (roletype object_r data_t))
(in app (allow t data_t (file (write))))
(allow app.data_t .f_t (file (getattr)))
""")
    assert "app.exec_t" in p.type_ids and "tmpl.exec_t" not in p.type_ids
    t = p.type_id("t")
    assert p.te_av(t, p.type_id("app.exec_t"), "file")[0] == p.classes["file"].perms["read"]
    assert p.te_av(t, p.type_id("app.data_t"), "file")[0] == p.classes["file"].perms["write"]
    assert p.te_av(p.type_id("app.data_t"), p.type_id("f_t"), "file")[0]


def test_macros_and_calls():
    p = build("""
(macro read_files ((type dom) (type target))
    (allow dom target (file (read open))))
(block m (macro exec_it ((type dom)) (allow dom .f_t (file (execute)))))
(call read_files (t f_t))
(call m.exec_it (t))
""")
    av = p.te_av(p.type_id("t"), p.type_id("f_t"), "file")[0]
    assert set(p.classes["file"].names(av)) == {"read", "open", "execute"}
    with pytest.raises(CilError, match="takes 2 arguments"):
        build("(macro mm ((type a) (type b)) (allow a b (file (read))))(call mm (t))")


def test_optional_with_missing_requirement_is_disabled():
    p = build("""
(typeattribute cil_gen_require)
(optional present (typeattributeset cil_gen_require f_t) (allow t f_t (file (read))))
(optional missing (typeattributeset cil_gen_require absent_t) (allow t f_t (file (write))))
""")
    av = p.te_av(p.type_id("t"), p.type_id("f_t"), "file")[0]
    assert p.classes["file"].names(av) == ["read"]


def test_booleans_tunables_and_conditions():
    p = build("""
(boolean b1 true)(boolean b2 false)(tunable tun true)
(booleanif (and b1 (not b2)) (true (allow t f_t (file (read)))) (false (allow t f_t (file (write)))))
(booleanif (xor b1 b2) (true (allow t f_t (file (open)))))
(booleanif (eq b1 b2) (true (allow t f_t (file (getattr)))))
(tunableif tun (true (allow t f_t (file (execute)))) (false (allow t f_t (file (entrypoint)))))
""")
    names = lambda: set(p.classes["file"].names(p.te_av(p.type_id("t"), p.type_id("f_t"), "file")[0]))  # noqa: E731
    assert names() == {"read", "open", "execute"}
    p.set_boolean("b2", True)
    assert names() == {"write", "getattr", "execute"}


def test_roles_users_and_mls_statements():
    p = load_cil([MINI])
    assert p.mls.sensitivities == ["s0", "s1", "s2"] and len(p.mls.categories) == 4
    assert p.users["staff_u"].roles == {"staff_r", "system_r"}
    assert ("staff_r", "system_r") in p.role_allow
    assert p.mls.range_text(p.users["user_u"].range) == "s0-s1:c0.c3"
    assert str(p.sid_contexts["kernel"]) == "system_u:system_r:kernel_t:s0-s2:c0.c3"
    assert str(p.port_context("tcp", 81)).endswith(":http_port_t:s0")
    assert p.port_context("udp", 22) is None
    assert {c.mls for c in p.constraints["file"]} == {True, False}
    assert p.type_id("init_t") in p.permissive


def test_constraint_expression_errors():
    with pytest.raises(CilError, match="level operands need mlsconstrain"):
        build("(constrain (file (read)) (dom l1 l2))")
    with pytest.raises(CilError, match="unknown constraint operator"):
        build("(constrain (file (read)) (like u1 u2))")
    build("(constrain (file (read)) (or (eq u1 u2) (ne t1 (t f_t))))")


def test_real_debian_cil_parses_and_compiles(tmp_path):
    """A module of Debian's policy, converted by the pp → CIL converter, with base."""
    pp = "/usr/libexec/selinux/hll/pp"
    base = "/usr/share/selinux/default/base.pp.bz2"
    if not (os.path.exists(pp) and os.path.exists(base) and shutil.which("bzcat")):
        pytest.skip("needs selinux-policy-default's modules and policycoreutils' pp converter")
    paths = []
    for name in ("base", "zebra"):
        raw = tmp_path / f"{name}.pp"
        raw.write_bytes(subprocess.run(["bzcat", f"/usr/share/selinux/default/{name}.pp.bz2"],
                                       capture_output=True, check=True).stdout)
        subprocess.run([pp, str(raw), str(tmp_path / f"{name}.cil")], check=True)
        paths.append(str(tmp_path / f"{name}.cil"))
    p = load_cil(paths)
    zebra, conf = p.type_id("zebra_t"), p.type_id("zebra_conf_t")
    assert p.classes["file"].perms["read"] & p.te_av(zebra, conf, "file")[0]
    assert p.bool_defaults["allow_zebra_write_config"] is False
    assert not p.classes["file"].perms["write"] & p.te_av(zebra, conf, "file")[0]
    assert len(p.type_names) > 1000 and len(p.rules) > 10000
