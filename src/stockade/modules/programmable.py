"""Programmable modules: stockade's answer to the BPF LSM.

A Python file registers functions on hooks with the `hook` decorator:

    from stockade.modules.programmable import hook

    @hook("file_open")
    def no_tmp_exec(req):
        if req.access & 1 and req.obj.path.startswith("/tmp/"):
            return False          # deny with EPERM
        return None               # no opinion

A function returns None (no opinion), True (allow), False (deny, EPERM), an errno (an int;
0 allows, any other value denies with its absolute value) or a ready `Verdict`. A function
that raises denies with EPERM (fail closed) and says why. Verdicts are not cached unless the
hook was registered with `cacheable=True` (a program may keep state): not its "no opinion"
either, nor the answer of a program asked after it on the same hook.

`load_module_file(path)` imports the file into a minor module named `prog:<file stem>` (or
the file's `NAME`), which goes into a stack like any other module through `build_stack(...,
extra=...)`. Errors while importing are one StockadeError naming file:line.

Security: the file runs inside the monitor's own process, with all of its privileges and
access to all of its memory, exactly as trusted as the monitor itself. Nothing is sandboxed.
Loading one is the equivalent of loading a BPF LSM program, which needs CAP_BPF and
CAP_MAC_ADMIN: only load files you would run as the user running stockade.
"""

from __future__ import annotations

import errno
import importlib.util
import itertools
import os
import sys
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from stockade.errors import StockadeError
from stockade.lsm.hooks import HOOKS
from stockade.lsm.module import HookFn, SecurityModule, Verdict
from stockade.lsm.types import Request
from stockade.slotted import replace

ATTR = "__stockade_hooks__"
F = TypeVar("F", bound=Callable[..., Any])
_counter = itertools.count()


def hook(name: str, *, cacheable: bool = False) -> Callable[[F], F]:
    """Register the decorated function on hook `name` (may be stacked for several hooks)."""
    if name not in HOOKS:
        raise ValueError(f"unknown LSM hook {name!r}")

    def register(fn: F) -> F:
        hooks = list(getattr(fn, ATTR, ()))
        hooks.append((name, cacheable))
        setattr(fn, ATTR, hooks)
        return fn

    return register


@dataclass(frozen=True)
class Program:
    """One registered function."""

    hook: str
    fn: Callable[[Request], Any]
    cacheable: bool
    label: str  # function name, for reasons and audit


@dataclass
class ProgrammableModule(SecurityModule):
    """A minor module whose hooks are the functions a file registered."""

    name = "prog"
    path: str = ""
    programs: list[Program] = field(default_factory=list)
    errors: int = field(default=0, init=False)

    def hooks(self) -> dict[str, HookFn]:
        """One dispatcher per hook with programs, calling them in registration order."""
        by_hook: dict[str, list[Program]] = {}
        for program in self.programs:
            by_hook.setdefault(program.hook, []).append(program)
        return {name: self._dispatcher(tuple(progs)) for name, progs in by_hook.items()}

    def _dispatcher(self, programs: tuple[Program, ...]) -> HookFn:
        def run(req: Request) -> Verdict | None:
            allowed: Verdict | None = None
            stateful = False  # a program not registered cacheable was asked
            for program in programs:
                verdict = self._call(program, req)
                stateful = stateful or not program.cacheable
                if verdict is None:
                    continue
                if verdict.errno:
                    return replace(verdict, cacheable=False) if stateful else verdict
                allowed = allowed or verdict
            if not stateful:
                return allowed
            # even "no opinion" from such a program may change: the stack must not cache it
            if allowed is not None:
                return replace(allowed, cacheable=False)
            return self.no_opinion_uncached(req.hook)
        return run

    def _call(self, program: Program, req: Request) -> Verdict | None:
        fields = (("program", program.label), ("file", self.path))
        try:
            result = program.fn(req)
        except Exception as err:
            self.errors += 1
            return Verdict(self.name, errno.EPERM, f"{program.label} raised {type(err).__name__}: "
                           f"{err}; denied (fail closed)", program.label, cacheable=False,
                           fields=fields)
        if result is None:
            return None
        if isinstance(result, Verdict):
            return result
        if isinstance(result, bool):
            code = 0 if result else errno.EPERM
        elif isinstance(result, int):
            code = abs(result)
        else:
            self.errors += 1
            return Verdict(self.name, errno.EPERM, f"{program.label} returned a "
                           f"{type(result).__name__}, not None/bool/errno; denied", program.label,
                           cacheable=False, fields=fields)
        reason = f"{program.label}: " + (errno.errorcode.get(code, str(code)) if code else "allow")
        return Verdict(self.name, code, reason, program.label, cacheable=program.cacheable,
                       fields=fields)


def _where(path: str, err: BaseException) -> str:
    """file:line of the innermost frame of `err` that ran in `path`."""
    if isinstance(err, SyntaxError) and err.lineno:
        return f"{path}:{err.lineno}"
    line = None
    for frame in traceback.extract_tb(err.__traceback__):
        if os.path.abspath(frame.filename) == os.path.abspath(path):
            line = frame.lineno
    return f"{path}:{line}" if line else path


def load_module_file(path: str, name: str | None = None) -> ProgrammableModule:
    """Import `path` and collect its hooked functions into a module (see the module docstring)."""
    if not os.path.isfile(path):
        raise StockadeError(f"{path}: no such module file")
    stem = os.path.splitext(os.path.basename(path))[0]
    module_name = f"_stockade_prog_{next(_counter)}_{stem.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise StockadeError(f"{path}: cannot be imported as Python")
    code = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = code
    try:
        spec.loader.exec_module(code)
    except Exception as err:
        sys.modules.pop(module_name, None)
        detail = err.msg if isinstance(err, SyntaxError) else str(err)
        raise StockadeError(f"{_where(path, err)}: {type(err).__name__}: {detail}") from None
    programs: list[Program] = []
    for attr in vars(code).values():
        for hook_name, cacheable in getattr(attr, ATTR, ()):
            if callable(attr):
                programs.append(Program(hook_name, attr, cacheable, getattr(attr, "__name__", "?")))
    if not programs:
        raise StockadeError(f"{path}: registers no hooks (decorate functions with "
                            "@hook(\"file_open\") from stockade.modules.programmable)")
    module_label = name or str(getattr(code, "NAME", "") or f"prog:{stem}")
    cls = type(f"Programmable_{stem}", (ProgrammableModule,), {"name": module_label})
    return cls(path=os.path.abspath(path), programs=programs)  # type: ignore[no-any-return]


def load_module_files(paths: Iterable[str]) -> dict[str, SecurityModule]:
    """Modules for `--module-file` options, by name, for build_stack(extra=...)."""
    found: dict[str, SecurityModule] = {}
    for path in paths:
        module = load_module_file(path)
        if module.name in found:
            raise StockadeError(f"{path}: a module named {module.name} is already loaded")
        found[module.name] = module
    return found


def lsm_with(lsm: str, names: Iterable[str]) -> str:
    """`lsm` with `names` appended where absent: programmable modules stack after the rest."""
    present = [n.strip() for n in lsm.split(",") if n.strip()]
    return ",".join(present + [n for n in names if n not in present])
