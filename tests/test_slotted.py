"""stockade.slotted: the classes a plain `run` loads mean what the dataclasses they replaced
meant (equality, hash, repr, frozen fields, replace, copies), checked against real dataclasses
built from the same fields, and every class's FIELDS are its __init__ parameters in order (the
plan cache's codec, `replace` and pickling pass them by name or position)."""

from __future__ import annotations

import copy
import dataclasses
import errno
import importlib
import pickle
from typing import Any

import pytest

from stockade.enforce.landlock import AccessFs
from stockade.enforce.plan.glob import Expansion, Target
from stockade.enforce.plan.types import (
    CoverageEntry,
    CoverageReport,
    CoverageStatus,
    EnforcementPlan,
    FsRule,
    ProfilePlan,
    SeccompRule,
)
from stockade.enforce.seccomp import ArgCmp, Cmp, errno_action
from stockade.lsm.module import SecurityModule, Verdict
from stockade.lsm.types import Object, ObjectKind, Request, Subject
from stockade.policy import aare
from stockade.slotted import Frozen, Slotted, replace, slot_setters

#: the modules whose classes moved off dataclasses (a plain run loads them all)
MODULES = ("stockade.enforce.caps", "stockade.enforce.landlock", "stockade.enforce.plan.explain",
           "stockade.enforce.plan.types", "stockade.enforce.prepare", "stockade.enforce.seccomp",
           "stockade.enforce.status_record", "stockade.enforce.supervisor.target",
           "stockade.lsm.avc", "stockade.lsm.hooks", "stockade.lsm.module", "stockade.lsm.types",
           # and those a plan cache hit loads to expand the program's own /proc rules
           "stockade.enforce.plan.glob", "stockade.policy.aare.pattern")
#: classes whose __init__ takes less than their fields (never replaced nor cached)
BUILT_IN_STEPS = {"Prepared"}


def _classes() -> list[type[Slotted]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        found += [v for v in vars(module).values() if isinstance(v, type)
                  and issubclass(v, Slotted) and v.__module__ == name]
    return found


def _init_parameters(cls: type) -> tuple[str, ...]:
    code = cls.__init__.__code__  # type: ignore[misc]
    return code.co_varnames[1:code.co_argcount + code.co_kwonlyargcount]


@pytest.mark.parametrize("cls", _classes(), ids=lambda c: c.__qualname__)
def test_fields_are_the_init_parameters_in_order(cls: type[Slotted]) -> None:
    assert cls.FIELDS and set(cls.FIELDS) <= set(cls.__slots__)
    if cls.__qualname__ not in BUILT_IN_STEPS:
        assert _init_parameters(cls) == cls.FIELDS


def test_a_class_must_name_its_fields() -> None:
    with pytest.raises(TypeError, match="FIELDS"):
        class Unordered(Frozen):  # defining it is the test
            __slots__ = ("a", "b")


def _oracle(obj: Slotted, frozen: bool) -> Any:
    """A real dataclass with `obj`'s class name, fields and values."""
    cls = dataclasses.make_dataclass(type(obj).__qualname__, list(obj.FIELDS), frozen=frozen)
    return cls(**{name: getattr(obj, name) for name in obj.FIELDS})


SAMPLES: list[tuple[Slotted, dict[str, Any]]] = [
    (FsRule("/usr", AccessFs.READ_FILE, "--ro /usr"), {"optional": True}),
    (SeccompRule("ioctl", errno_action(errno.EPERM), (ArgCmp(1, Cmp.EQ, 0x5412),), "TIOCSTI"),
     {"reason": "other"}),
    (CoverageEntry("/x r,", "p:3", CoverageStatus.EXACT), {"detail": "why"}),
    (Verdict("capability", errno.EPERM, "not in the set"), {"cacheable": False}),
    (Subject(pid=7, uid=1000, groups=frozenset({27})), {"uid": 0}),
    (Object(kind=ObjectKind.FILE, path="/etc/passwd", mode=0o100644), {"mode": 0o100600}),
    (Target("/usr", "tree"), {"kind": "dir"}),
    (aare.parse("/usr/*.so"), {"exact": True}),
]


@pytest.mark.parametrize(("obj", "change"), SAMPLES, ids=lambda v: type(v).__qualname__)
def test_frozen_values_compare_hash_and_print_as_dataclasses(obj: Frozen,
                                                             change: dict[str, Any]) -> None:
    oracle = _oracle(obj, frozen=True)
    assert repr(obj) == repr(oracle)
    assert hash(obj) == hash(oracle)
    same = replace(obj)
    assert same == obj and same is not obj and hash(same) == hash(obj)
    other = replace(obj, **change)
    assert other != obj and other == replace(obj, **change)
    assert other != dataclasses.replace(oracle, **change)  # another class: never equal
    assert [getattr(other, n) for n in obj.FIELDS] == \
        [getattr(dataclasses.replace(oracle, **change), n) for n in obj.FIELDS]
    name = next(iter(change))
    with pytest.raises(AttributeError):
        setattr(obj, name, change[name])
    with pytest.raises(AttributeError):
        delattr(obj, name)
    assert copy.copy(obj) == obj and copy.deepcopy(obj) == obj
    assert pickle.loads(pickle.dumps(obj)) == obj


def test_cached_keys_are_left_out_and_recomputed() -> None:
    subject = Subject(pid=7, uid=1000)
    assert "key" not in repr(subject)
    assert replace(subject, pid=8).key == subject.key  # the pid is not in the key
    assert replace(subject, uid=0).key != subject.key
    obj = Object(kind=ObjectKind.FILE, path="/a")
    req = Request("file_open", subject, obj, 4)
    moved = replace(req, obj=replace(obj, path="/b"))  # a field named `obj` is a change too
    assert moved.obj is not None and moved.obj.path == "/b" and moved.key != req.key
    assert copy.deepcopy(req).key == req.key


def test_mutable_classes_are_unhashable_and_compare_by_fields() -> None:
    plan = EnforcementPlan(fs_rules=[FsRule("/usr", AccessFs.READ_FILE)])
    oracle = _oracle(plan, frozen=False)
    assert repr(plan) == repr(oracle)
    with pytest.raises(TypeError):
        hash(plan)
    assert plan == EnforcementPlan(fs_rules=[FsRule("/usr", AccessFs.READ_FILE)])
    assert plan != EnforcementPlan()
    assert EnforcementPlan().fs_rules is not EnforcementPlan().fs_rules  # no shared default
    exp = Expansion(pattern="/usr/**")
    assert repr(exp) == repr(_oracle(exp, frozen=False)) and exp == Expansion(pattern="/usr/**")
    assert Expansion().targets is not Expansion().targets and Expansion().region == "/"
    plan.name = "renamed"  # mutable, as the dataclass was
    assert replace(plan, name="x").fs_rules == plan.fs_rules
    report = CoverageReport()
    assert ProfilePlan("p", 7, plan, report).notes == []


def test_replace_refuses_unknown_fields_and_passes_dataclasses_on() -> None:
    with pytest.raises(TypeError, match="no field 'colour'"):
        replace(FsRule("/usr", AccessFs.READ_FILE), colour="red")

    @dataclasses.dataclass(frozen=True)
    class Point:
        x: int
        y: int = 0

    assert replace(Point(1), y=2) == Point(1, 2)


def test_plan_validation_runs_on_construction_and_on_check() -> None:
    with pytest.raises(ValueError, match="no_new_privs"):
        EnforcementPlan(no_new_privs=False)
    plan = EnforcementPlan()
    plan.no_new_privs = False
    with pytest.raises(ValueError, match="no_new_privs"):
        plan.check()


def test_module_defaults_are_per_instance_once_set() -> None:
    class Quiet(SecurityModule):
        name = "quiet"

    first, second = Quiet(), Quiet()
    first.reload()
    assert (first.policy_seqno, second.policy_seqno) == (1, 0)
    assert SecurityModule.policy_seqno == 0


# slotted.NamedTuple against typing.NamedTuple: the same class statement makes the same tuple
def _pair(base: type) -> type:
    class Event(base):  # type: ignore[misc, valid-type]
        """An event."""

        what: str
        count: int = 1
        tags: tuple[str, ...] = ()

        @property
        def twice(self) -> int:
            return self.count * 2

        def named(self) -> str:
            return f"{self.what}:{self.count}"

    return Event


def test_named_tuples_behave_as_typings() -> None:
    import typing

    from stockade import slotted

    ours, theirs = _pair(slotted.NamedTuple), _pair(typing.NamedTuple)
    for cls in (ours, theirs):
        assert issubclass(cls, tuple)
        assert cls.__doc__ == "An event."
    assert ours._fields == theirs._fields == ("what", "count", "tags")
    assert ours._field_defaults == theirs._field_defaults
    # the same names (typing wraps each string in a ForwardRef: a compile per field)
    assert list(ours.__annotations__) == list(theirs.__annotations__)
    a, b = ours("x"), theirs("x")
    assert a == b == ("x", 1, ())  # plain tuple equality, as typing's
    assert repr(a) == repr(b) == "Event(what='x', count=1, tags=())"
    assert (a.twice, a.named()) == (b.twice, b.named()) == (2, "x:1")
    assert a._replace(count=3) == b._replace(count=3)
    assert a._asdict() == b._asdict()
    assert hash(a) == hash(b)
    with pytest.raises(AttributeError):
        a.what = "y"  # type: ignore[misc]
    for base in (slotted.NamedTuple, typing.NamedTuple):
        with pytest.raises(TypeError):
            type(base)("Bad", (base,), {"__module__": __name__,  # default, then none
                                        "__annotations__": {"a": "int", "b": "int"}, "a": 1})
        with pytest.raises(AttributeError):
            class Clash(base):  # type: ignore[misc, valid-type]
                x: int

                def _asdict(self) -> dict[str, Any]:
                    return {}


def test_the_stacks_tuples_pickle_by_name() -> None:
    from stockade.lsm.stack import Decision

    d = Decision(13, (Verdict("x", 13, "no"),), ("x",), decider=None)
    assert pickle.loads(pickle.dumps(d)) == d and type(pickle.loads(pickle.dumps(d))) is Decision
    assert d.allowed is False and Decision(0, (), ()).allowed


def _rows(cls: type[Frozen]) -> list[tuple[Any, ...]]:
    """Two rows of distinct field values a `cls` may hold (the plan cache's tables)."""
    act = errno_action(errno.EPERM)
    samples = {FsRule: [("/a", AccessFs.READ_FILE, "p:1", True, False),
                        ("/b", AccessFs.EXECUTE, "", False, True)],
               CoverageEntry: [("allow /a", "p:1", CoverageStatus.EXACT, "", "Landlock ABI 1"),
                               ("x", "", CoverageStatus.APPROXIMATED, "why", "")],
               SeccompRule: [("ptrace", act, (), "r", "s"),
                             ("kill", act, (ArgCmp(0, Cmp.EQ, 1),), "", "")]}
    if cls in samples:
        return samples[cls]
    from stockade.enforce.landlock import AccessNet
    from stockade.enforce.plan.types import NetRule

    assert cls is NetRule
    return [(443, AccessNet.CONNECT_TCP, "p:2"), (80, AccessNet.BIND_TCP, "")]


def test_the_codecs_tables_are_made_column_by_column_as_by_init() -> None:
    """`from_columns` sets the slots without `__init__`: for each class the plan cache decodes
    as a table, `__init__` must store its fields as given (a conversion added to it would make
    the two differ, and fails here), and the objects made both ways are equal."""
    from stockade.enforce.plan.cache.codec import _TABLES
    from stockade.slotted import from_columns

    for cls in _TABLES:
        rows = _rows(cls)
        made = [cls(*row) for row in rows]
        assert [obj._fields() for obj in made] == rows  # stored as given
        columns = [list(col) for col in zip(*rows, strict=True)]
        built = from_columns(cls, columns)
        assert built == made and [type(b) for b in built] == [cls] * len(rows)
        assert all(obj._fields() == row for obj, row in zip(built, rows, strict=True))
        with pytest.raises(AttributeError):
            built[0].source = "changed"  # still frozen
    assert from_columns(FsRule, [[]] * 5) == []
    with pytest.raises(ValueError):
        from_columns(FsRule, [["/a"], [AccessFs.READ_FILE], ["s"], [True], []])


@pytest.mark.parametrize(("cls", "args"), [
    (CoverageEntry, ("/x r,", "p:3", CoverageStatus.APPROXIMATED, "why", "Landlock")),
    (Target, ("/usr", "tree")),
    (aare.Pattern, ("/t", (("lit", "/t"),), True, "/t")),
], ids=lambda v: getattr(v, "__qualname__", ""))
def test_classes_set_through_slot_setters_keep_each_field_apart(cls: type[Frozen],
                                                                 args: tuple[Any, ...]) -> None:
    """The classes whose __init__ sets its fields through `slot_setters` (in FIELDS order)."""
    obj = cls(*args)
    assert [getattr(obj, name) for name in cls.FIELDS] == list(args)
    assert slot_setters(cls)[0].__self__ is cls.__dict__[cls.FIELDS[0]]
