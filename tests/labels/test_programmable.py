"""Programmable modules: a Python file's @hook functions stacked like a minor module."""

import errno
import textwrap

import pytest
from label_helpers import fobj, subj

from stockade.errors import StockadeError
from stockade.lsm.types import MAY_EXEC, MAY_OPEN, MAY_READ, Request
from stockade.modules.programmable import hook, load_module_file, load_module_files, lsm_with
from stockade.modules.registry import build_stack

NO_TMP_EXEC = """\
from stockade.lsm.types import MAY_EXEC
from stockade.modules.programmable import hook

calls = []

@hook("file_open")
def no_tmp_exec(req):
    calls.append(req.obj.path)
    if req.access & MAY_EXEC and req.obj.path.startswith("/tmp/"):
        return False
    return None

@hook("bprm_check_security")
@hook("task_kill")
def errno_style(req):
    if req.hook == "task_kill":
        return -1 if req.signal == 9 else 0
    return 13 if req.obj.path.endswith(".sh") else None
"""


def write(tmp_path, text: str, name: str = "policy.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_a_module_file_decides_in_the_stack(tmp_path) -> None:
    module = load_module_file(write(tmp_path, NO_TMP_EXEC, "no-tmp.py"))
    assert module.name == "prog:no-tmp"
    assert set(module.hooks()) == {"file_open", "bprm_check_security", "task_kill"}
    stack = build_stack(lsm_with("capability", [module.name]), dac=False,
                        extra={module.name: module})
    assert [m.name for m in stack.modules] == ["capability", "prog:no-tmp"]
    d = stack.decide(Request("file_open", subj(), fobj("/tmp/x"), MAY_EXEC | MAY_OPEN))
    assert d.errno == errno.EPERM and d.decider.module == "prog:no-tmp"
    assert d.decider.rule == "no_tmp_exec"
    assert stack.decide(Request("file_open", subj(), fobj("/tmp/x"), MAY_READ | MAY_OPEN)).allowed
    d = stack.decide(Request("bprm_check_security", subj(), fobj("/x.sh"), MAY_EXEC))
    assert d.errno == errno.EACCES
    assert stack.decide(Request("task_kill", subj(), fobj("/proc/1"), signal=9)).errno == errno.EPERM
    assert stack.decide(Request("task_kill", subj(), fobj("/proc/1"), signal=15)).allowed


def test_verdicts_are_not_cached_unless_asked(tmp_path) -> None:
    module = load_module_file(write(tmp_path, NO_TMP_EXEC))
    stack = build_stack("capability," + module.name, dac=False, extra={module.name: module})
    req = Request("file_open", subj(), fobj("/tmp/x"), MAY_EXEC | MAY_OPEN)
    stack.decide(req)
    assert not stack.decide(req).cached
    cached = load_module_file(write(tmp_path, """\
        from stockade.modules.programmable import hook
        NAME = "prog:cached"

        @hook("file_open", cacheable=True)
        def deny_all(req):
            return False
        """, "c.py"))
    assert cached.name == "prog:cached"
    stack = build_stack("capability,prog:cached", dac=False, extra={"prog:cached": cached})
    stack.decide(req)
    assert stack.decide(req).cached


def test_no_opinion_of_a_stateful_program_is_not_cached(tmp_path) -> None:
    module = load_module_file(write(tmp_path, """\
        from stockade.modules.programmable import hook

        @hook("file_open")
        def abstains(req):
            return None

        @hook("file_open", cacheable=True)
        def allows(req):
            return True
        """))
    stack = build_stack("capability," + module.name, dac=False, extra={module.name: module})
    req = Request("file_open", subj(), fobj("/x"), MAY_READ | MAY_OPEN)
    assert stack.decide(req).allowed and stack.decide(req).allowed
    # asked after the stateful program, the cacheable one's allow is not cached either
    assert stack.avc.stats().hits == 0


def test_a_raising_program_fails_closed(tmp_path) -> None:
    module = load_module_file(write(tmp_path, """\
        from stockade.modules.programmable import hook

        @hook("file_open")
        def broken(req):
            return req.obj.nope
        """))
    d = module.hooks()["file_open"](Request("file_open", subj(), fobj("/x"), MAY_READ))
    assert d.errno == errno.EPERM and "AttributeError" in d.reason and "fail closed" in d.reason
    assert module.errors == 1


@pytest.mark.parametrize(("text", "message"), [
    ("x = 1\ndef f(:\n    pass\n", r"bad.py:2: SyntaxError"),
    ("from stockade.modules.programmable import hook\n\n@hook('file_opne')\ndef f(req):\n"
     "    return None\n", r"bad.py:3: ValueError: unknown LSM hook 'file_opne'"),
    ("import os\nraise RuntimeError('nope')\n", r"bad.py:2: RuntimeError: nope"),
    ("x = 1\n", r"bad.py: registers no hooks"),
])
def test_import_errors_are_one_line_with_file_and_line(tmp_path, text, message) -> None:
    with pytest.raises(StockadeError, match=message) as info:
        load_module_file(write(tmp_path, text, "bad.py"))
    assert "\n" not in str(info.value)


def test_missing_file_and_duplicate_names(tmp_path) -> None:
    with pytest.raises(StockadeError, match="no such module file"):
        load_module_file(str(tmp_path / "absent.py"))
    a = write(tmp_path, NO_TMP_EXEC, "same.py")
    (tmp_path / "sub").mkdir()
    b = write(tmp_path / "sub", NO_TMP_EXEC, "same.py")
    with pytest.raises(StockadeError, match="already loaded"):
        load_module_files([a, b])


def test_decorator_rejects_unknown_hooks_and_stacks() -> None:
    with pytest.raises(ValueError, match="unknown LSM hook"):
        hook("no_such_hook")

    @hook("file_open")
    @hook("inode_create")
    def f(req):
        return None

    assert sorted(h for h, _ in f.__stockade_hooks__) == ["file_open", "inode_create"]
    assert lsm_with("capability,yama", ["prog:a", "yama"]) == "capability,yama,prog:a"
