"""Whether the file behind an exec's name can be swapped between the decision and the exec.

The supervisor decides on the file it looked up itself and then answers CONTINUE; the kernel
looks the name up again (execve/race.py makes sure the name's bytes stay the same). The file
behind the name stays the same only while no entry the lookup passes through can be renamed,
replaced or removed by the program: a sibling looping renameat2(RENAME_EXCHANGE) in a
directory it may change makes the kernel run a file no module decided on.

`lookup_entries` lists (directory, entry) for every component a lookup of the name passes
through, symbolic links followed as the kernel follows them; `changeable` asks the existing
models whether the program may change one: the plan's Landlock ruleset (PlanGuard:
MAKE_*/REMOVE_*/REFER on the directory) and DAC (`Dac.may_take_name`: write and search on the
directory, the sticky bit, a read-only mount) for the target's credentials. Both must allow.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import TYPE_CHECKING

from stockade.enforce.link_walk import MAX_LINKS
from stockade.enforce.supervisor.resolve import rewrite_self
from stockade.enforce.supervisor.routing import HOOK_SYSCALLS, OPEN
from stockade.enforce.supervisor.sys import AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW
from stockade.lsm.probe import inode_object
from stockade.lsm.types import MAY_OPEN, MAY_WRITE, Object, Request
from stockade.modules.dac import Dac
from stockade.slotted import replace

if TYPE_CHECKING:
    from stockade.enforce.supervisor.loop import Supervisor
    from stockade.enforce.supervisor.plan_guard import PlanGuard
    from stockade.enforce.supervisor.target import TaskInfo
    from stockade.lsm.types import Subject

_DAC = Dac()


def lookup_entries(start: str, path: str, follow_last: bool = True) -> list[tuple[str, str]]:
    """(directory, entry name) for each component a lookup of `path` from directory `start`
    (canonical, absolute) passes through, in order. Raises OSError (ELOOP, ENOENT...) when
    the walk cannot be made."""
    out: list[tuple[str, str]] = []
    parts = path.split("/")
    cur = "/" if path.startswith("/") else start
    pending = parts[::-1]  # a stack: the next component last
    links = 0
    while pending:
        name = pending.pop()
        if name in ("", "."):
            continue
        if name == "..":
            cur = os.path.dirname(cur) or "/"
            continue
        out.append((cur, name))
        full = os.path.join(cur, name)
        last = not any(p not in ("", ".") for p in pending)
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode) and (follow_last or not last):
            links += 1
            if links > MAX_LINKS:
                raise OSError(errno.ELOOP, "too many levels of symbolic links")
            text = os.readlink(full)
            if text.startswith("/"):
                cur = "/"
            pending.extend(reversed(text.split("/")))
            continue
        if stat.S_ISDIR(st.st_mode):
            cur = full
        elif not last:
            raise NotADirectoryError(errno.ENOTDIR, f"{full} is not a directory")
    return out


def changeable(guard: PlanGuard | None, subject: Subject,
               entries: list[tuple[str, str]]) -> str:
    """The first directory in which the program may change the entry its lookup passes
    through ("" when there is none)."""
    seen: set[tuple[str, str]] = set()
    for directory, name in entries:
        if (directory, name) in seen:
            continue
        seen.add((directory, name))
        if guard is not None and not guard.may_change_entries(directory):
            continue
        parent = inode_object(directory)
        entry = replace(inode_object(os.path.join(directory, name)), parent=parent)
        if _DAC.may_take_name(Request("inode_unlink", subject, entry)) is None:
            return directory
    return ""


#: hooks through which the modules decide the program's opens (the supervisor performs them)
OPEN_HOOKS = frozenset(h for h, calls in HOOK_SYSCALLS.items() if set(OPEN) & set(calls))


def may_write(sup: Supervisor, task: TaskInfo, path: str, obj: Object) -> bool:
    """Whether the program may open the file at `path` for writing: where the modules decide
    opens (the supervisor performs them), their answer, asked without the AVC or an audit
    record, and the plan's whole ruleset; else the program's own Landlock grants."""
    if sup.hooks & OPEN_HOOKS:
        if sup.guard is not None and not sup.guard.may_write(path):
            return False
        req = Request("file_open", task.subject, obj, MAY_WRITE | MAY_OPEN)
        return sup.stack.explain(req).errno == 0
    return sup.guard is None or sup.guard.check(path, obj.mode, True)[0] == 0


def program_may_write(sup: Supervisor, task: TaskInfo, path: str) -> bool:
    """Whether the program may open the regular file at `path` for writing: its policy
    (`may_write`) and DAC both let it (True too when the file cannot be looked at)."""
    try:
        obj = inode_object(path)
    except OSError:
        return True
    if not may_write(sup, task, path, obj):
        return False
    return _DAC.hook_inode_permission(Request("inode_permission", task.subject, obj,
                                              MAY_WRITE)) is None


def rewritable(sup: Supervisor, task: TaskInfo, choosers: list[str]) -> str:
    """Why the program could change which interpreter the kernel runs ("": it cannot): it may
    write a file whose first bytes (`#!` line, PT_INTERP) named one, and the kernel reads them
    again after the decision. `may_write` answers for the policy that decides the program's
    opens (the modules and the plan's ruleset); DAC must let it write too."""
    for path in choosers:
        if not path.startswith("/"):
            return "the file that names its interpreter has no path to check"
        try:
            obj = inode_object(path)
        except OSError as err:
            return f"{path}, which names its interpreter, cannot be checked: {err.strerror}"
        if not may_write(sup, task, path, obj):
            continue
        if _DAC.hook_inode_permission(Request("inode_permission", task.subject, obj,
                                              MAY_WRITE)) is None:
            return (f"the program may write {path}, whose first bytes name the interpreter "
                    "decided (or that none runs), so another one could run")
    return ""


def swappable(guard: PlanGuard | None, task: TaskInfo, dirfd: int, path: bytes, flags: int,
              interpreters: list[bytes]) -> str:
    """Why the program could make the kernel's own lookup of the exec's name (or of a decided
    interpreter's) find another file than the one decided ("": it cannot; execve/names.py)."""
    # execveat(fd, "", AT_EMPTY_PATH) runs the descriptor itself: no lookup of a name
    names = [(name, False) for name in interpreters]
    if path or not flags & AT_EMPTY_PATH:
        names.insert(0, (path, True))
    if not names:
        return ""
    if not task.root_is_ours:
        return "the program has a root of its own, whose names are not checked"
    try:
        cwd = os.readlink(f"/proc/{task.tid}/cwd")
        if path and not path.startswith(b"/") and dirfd != AT_FDCWD:
            start = os.readlink(f"/proc/{task.tid}/fd/{dirfd}")
        else:
            start = cwd
        for name, program in names:
            entries = lookup_entries(
                start if program else cwd, os.fsdecode(rewrite_self(task, name)),
                follow_last=not program or not flags & AT_SYMLINK_NOFOLLOW)
            where = changeable(guard, task.subject, entries)
            if where:
                return (f"a directory on its path can be changed by the program ({where})"
                        if program else f"a directory on the path of {os.fsdecode(name)}, "
                        f"which it runs, can be changed by the program ({where})")
    except OSError as err:
        return f"the directories on its path cannot be checked: {err.strerror or err}"
    return ""
