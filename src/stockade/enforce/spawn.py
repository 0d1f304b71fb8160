"""The launcher's child in C (`stk_spawn`, enforce/supervisor/_spawn.c), when it is built.

The Python child (`launcher._child`) runs Python between fork and exec: the forked
interpreter's after-fork work and its steps fault in ~400 of the launcher's pages and cost
about 1 ms of CPU more than the same steps in C (docs/performance.md, session 7). `stk_spawn`
forks and runs the same steps in the same order in C, from a spec built here before fork
(`ChildSpec`), and reports a failure on the same pipe in the same form, so `launcher._error`
reads both alike. The Python child stays: it is used when the extension is not built, when
`STOCKADE_CHILD_PURE=1`, and for what the spec does not carry (a hook's own hand-over step,
more rlimits than the spec holds, and what `os.execve` refuses with its own error: a NUL byte,
an empty argv[0], an empty or `=`-holding environment name).
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any

    from stockade.enforce.launcher import Handover
    from stockade.enforce.prepare import Prepared

ENV_PURE = "STOCKADE_CHILD_PURE"
_RLIMITS = 16  # struct stk_child's rl_resource / rl_limit
_RLIM_MASK = (1 << 64) - 1


def _mask(signals: Iterable[int]) -> int:
    """Bit sig-1 of each signal (1-64)."""
    mask = 0
    for sig in signals:
        if 1 <= sig <= 64:
            mask |= 1 << (sig - 1)
    return mask


def _strings(ffi: Any, items: Iterable[bytes], keep: list[object]) -> Any:
    """A NULL-terminated `char **` of `items`; what it points to is kept alive in `keep`."""
    cells = [ffi.new("char[]", item) for item in items]
    keep.extend(cells)
    array = ffi.new("char *[]", [*cells, ffi.NULL])
    keep.append(array)
    return array


class ChildSpec:
    """Everything the C child reads, built in the parent before fork (the child allocates
    nothing); `start(handover)` forks it (the launcher's or the supervisor thread's fork)."""

    __slots__ = ("_ffi", "_keep", "_lib", "_spec")

    def __init__(self, backend: tuple[Any, Any], spec: Any, keep: list[object]) -> None:
        self._ffi, self._lib = backend
        self._spec = spec
        self._keep = keep

    def start(self, handover: Handover | None) -> int:
        """Fork the C child; its pid. OSError if fork fails."""
        spec = self._spec
        if handover is not None:
            spec.notify_sock = handover.sock
            spec.close_fds[spec.n_close] = handover.other
            spec.n_close += 1
            code = handover.program.code
            buf = self._ffi.from_buffer(code)
            self._keep.append(buf)
            spec.notify_code = buf
            spec.notify_len = len(code) // 8
            spec.notify_flags = handover.flags
            spec.notify_fallback_flags = handover.fallback_flags
        pid = self._lib.stk_spawn(spec)
        if pid < 0:
            raise OSError(-pid, os.strerror(-pid))
        return int(pid)


def _backend() -> tuple[Any, Any] | None:
    """The extension's (ffi, lib), or None for the Python child."""
    if os.environ.get(ENV_PURE, "") not in ("", "0"):
        return None
    try:
        from stockade.enforce.supervisor._unotify import ffi, lib  # type: ignore[import-not-found]
    except ImportError:
        return None
    return ffi, lib


def compiled_child(prep: Prepared, argv: Sequence[str], paths: Sequence[str], *,
                   err_r: int, err_w: int, go: tuple[int, int], parent: int,
                   old_mask: Iterable[int], reset: Iterable[int],
                   always_default: Iterable[int], securebits: int) -> ChildSpec | None:
    """The C child's spec for this launch, or None when the Python child must run it."""
    from stockade.enforce import caps

    backend = _backend()
    if backend is None or len(prep.plan.rlimits) > _RLIMITS:
        return None
    try:
        args = [os.fsencode(a) for a in argv]
        candidates = [os.fsencode(p) for p in paths]
        env = [os.fsencode(k) + b"=" + os.fsencode(v) for k, v in prep.env.items()]
    except (TypeError, UnicodeError):
        return None
    keys_ok = all(k and "=" not in k for k in prep.env)
    strings = [*args, *candidates, *env]
    if not args or not args[0] or not keys_ok or any(b"\0" in s for s in strings):
        return None  # os.execve refuses these with its own error: the Python child reports it
    ffi = backend[0]
    keep: list[object] = []
    spec = ffi.new("struct stk_child *")
    spec.parent = parent if prep.plan.die_with_parent else 0
    spec.go_r = go[0]
    spec.err_w = err_w
    spec.close_fds[0] = go[1]
    spec.close_fds[1] = err_r
    spec.n_close = 2
    spec.keep_caps = int(prep.keep_caps)
    spec.trim_bounding = prep.trim_bounding
    spec.raise_ambient = prep.raise_ambient
    spec.lock_securebits = prep.lock_securebits
    spec.securebits = securebits
    spec.last_cap = caps.last_cap() if prep.trim_bounding or prep.raise_ambient else 0
    spec.ruleset_fd = prep.ruleset_fd
    spec.restrict_flags = int(prep.restrict_flags)
    for i, (resource, limit) in enumerate(prep.plan.rlimits.items()):
        spec.rl_resource[i] = resource
        spec.rl_limit[i] = limit & _RLIM_MASK  # RLIM_INFINITY is -1 in Python, ~0 in C
    spec.n_rlimits = len(prep.plan.rlimits)
    spec.reset_signals = _mask(reset)
    spec.always_default = _mask(always_default)
    spec.old_mask = _mask(old_mask)
    spec.notify_sock = -1
    if prep.bpf is not None:
        code = ffi.from_buffer(prep.bpf.code)
        keep.append(code)
        spec.bpf_code = code
        spec.bpf_len = len(prep.bpf.code) // 8
        spec.seccomp_flags = int(prep.seccomp_flags)
    spec.paths = _strings(ffi, candidates, keep)
    spec.argv = _strings(ffi, args, keep)
    spec.envp = _strings(ffi, env, keep)
    return ChildSpec(backend, spec, keep)
