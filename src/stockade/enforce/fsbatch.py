"""N filesystem calls in one: the hot loops of a plan cache hit, in C when `_fsbatch` is built.

A hit re-stats every directory the cached plan's globs walked (thousands for abstractions/base),
re-asks the file types and /proc owners it recorded (hundreds), and `prepare` opens every
granted path and adds it to the Landlock rulesets (thousands more): through Python each call
costs about as much again as the kernel's work. The extension
(`_fsbatch_build.py`) runs each loop in one call; the pure-Python loops here do exactly the
same and are used when it is not built or when STOCKADE_SUPERVISOR_PURE=1 (tests run both).
Neither decides anything: `check_dirs` and `check_kinds` compare answers byte for byte, and what a failed
open means stays with the caller.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

#: the same switch as the supervisor's: every optional extension off
ENV_PURE = "STOCKADE_SUPERVISOR_PURE"

_lib: Any = None
_ffi: Any = None
_loaded = False


def _backend() -> tuple[Any, Any] | None:
    global _lib, _ffi, _loaded
    if os.environ.get(ENV_PURE, "") not in ("", "0"):
        return None
    if not _loaded:
        _loaded = True
        try:
            from stockade.enforce._fsbatch import ffi, lib  # type: ignore[import-not-found]
        except ImportError:
            return None
        _ffi, _lib = ffi, lib
    return (_ffi, _lib) if _lib is not None else None


def name() -> str:
    """'c' or 'python': which loops are in use."""
    return "c" if _backend() is not None else "python"


def _packed(strings: Sequence[str]) -> bytes:
    """NUL-terminated, as os.fsencode encodes each (one encode for all); ValueError for a
    string holding a NUL (as os.stat and os.open raise), which C would read as two."""
    out = ("\0".join(strings) + "\0").encode("utf-8", "surrogateescape")
    if out.count(0) != len(strings):
        raise ValueError("embedded null byte")
    return out


def pack_dirs(pairs: Sequence[tuple[str, str]]) -> str:
    """(directory, recorded `m` fingerprint) pairs as `check_dirs` takes them: one string,
    each path and fingerprint NUL-terminated (how a plan cache entry stores them)."""
    return "".join(f"{path}\0{recorded}\0" for path, recorded in pairs)


def _pairs(packed: str | bytes) -> tuple[bytes, int]:
    raw = packed if isinstance(packed, bytes) else packed.encode("utf-8", "surrogateescape")
    n = raw.count(0)
    if not raw.endswith(b"\0") or n % 2:
        raise ValueError("not pairs of NUL-terminated strings")
    return raw, n


def check_dirs(packed: str | bytes) -> str | None:
    """The first directory of `packed` (see `pack_dirs`; or those bytes, as a plan cache entry
    keeps them) that cannot be stat'ed or has another fingerprint now; None when all are the
    same. ValueError when `packed` is not pairs of NUL-terminated strings."""
    if not packed:
        return None
    return _check_pairs(*_pairs(packed))


def _check_pairs(raw: bytes, n: int) -> str | None:
    """check_dirs of `raw`, found to hold `n` NUL-terminated strings, in pairs."""
    backend = _backend()
    if backend is not None:
        changed = int(backend[1].stk_check_dirs(raw, n // 2))
        return None if changed < 0 else os.fsdecode(raw.split(b"\0")[2 * changed])
    from stockade.fsview import _id_print

    parts = raw.decode("utf-8", "surrogateescape").split("\0")
    stat_ = os.stat
    for k in range(0, len(parts) - 1, 2):
        try:
            st = stat_(parts[k])
        except (OSError, ValueError):
            return parts[k]
        if parts[k + 1] != _id_print(st):
            return parts[k]
    return None


def check_dirs_started(packed: str | bytes, kinds: Sequence[tuple[str, str, str]] = ()
                       ) -> Callable[[], str | None]:
    """`check_kinds(kinds)`, then `check_dirs(packed)`, begun in a thread of their own when the
    C loops run: they release the GIL, so the kernel's stats (most of a plan cache hit's
    re-check) overlap the caller's work on another CPU; with the Python loops, done at once.
    Returns the function that waits for the answer, the first change as `fsview.still_valid`
    names it ("Q PATH": a file type or owner of question Q; "d PATH": a directory), None when
    all are the same (or raises what the check raised): call it on every path, so that no
    check outlives the caller's use of it. ValueError when `packed` is malformed (from the
    answer when the C loop finds it, as it walks), and at once when a string of `kinds` holds
    a NUL (a question other than `l`, `s`, `o` too)."""
    backend = _backend()
    if (not packed and not kinds) or backend is None:
        changed = check_kinds(kinds)
        answer = (f"{kinds[changed][0]} {kinds[changed][1]}" if changed is not None else
                  _named(check_dirs(packed)))
        return lambda: answer
    # counted and checked in C as the thread walks it (a malformed one raises from the answer)
    raw = packed if isinstance(packed, bytes) else packed.encode("utf-8", "surrogateescape")
    if raw and not raw.endswith(b"\0"):
        raise ValueError("not pairs of NUL-terminated strings")
    if any(q not in KIND_QUESTIONS for q, _, _ in kinds):
        raise ValueError("not a file type or owner question")
    asked = _packed([part for triple in kinds for part in triple]) if kinds else b""
    lib = backend[1]
    import _thread

    found: list[str | None] = []
    failed: list[BaseException] = []
    done = _thread.allocate_lock()  # held until the answer is in
    done.acquire()

    def work() -> None:
        try:  # one C call: the GIL taken again only at the end (see stk_check_kinds_dirs)
            changed = _kinds_dirs(lib, asked, len(kinds), raw, len(raw))
            if changed == -2:
                raise ValueError("not pairs of NUL-terminated strings")
            if changed < 0:
                found.append(None)
            elif changed < len(kinds):
                found.append(f"{kinds[changed][0]} {kinds[changed][1]}")
            else:
                found.append(_named(os.fsdecode(raw.split(b"\0")[2 * (changed - len(kinds))])))
        except BaseException as err:  # handed to the caller
            failed.append(err)
        finally:
            done.release()

    # not threading.Thread: its start() waits until the new thread has run, which on a busy
    # machine kept the caller idle for 2-4 ms; the caller goes on and waits on `done` instead
    _thread.start_new_thread(work, ())

    def answer() -> str | None:
        with done:  # the thread has ended its work
            pass
        if failed:
            raise failed[0]
        return found[0]

    return answer


def _kinds_dirs(lib: Any, asked: bytes, kinds: int, raw: bytes, size: int) -> int:
    """stk_check_kinds_dirs (named here: benchmarks/plan_cache_hit.py times it)."""
    return int(lib.stk_check_kinds_dirs(asked, kinds, raw, size))


def _named(directory: str | None) -> str | None:
    return None if directory is None else f"d {directory}"


#: the questions `check_kinds` answers (fsview.answer_now's file types and /proc owners)
KIND_QUESTIONS = frozenset("lso")


def check_kinds(answers: Sequence[tuple[str, str, str]]) -> int | None:
    """The position of the first (question, path, recorded answer) in `answers` whose answer
    differs now, as fsview.answer_now gives it (questions `l`, `s`, `o` only); None when all
    are the same. ValueError for another question or a string holding a NUL."""
    if any(q not in KIND_QUESTIONS for q, _, _ in answers):
        raise ValueError("not a file type or owner question")
    backend = _backend()
    if backend is None:
        from stockade.fsview import answer_now

        return next((i for i, (q, path, recorded) in enumerate(answers)
                     if answer_now(q, path, recorded) != recorded), None)
    if not answers:
        return None
    changed = int(backend[1].stk_check_kinds(
        _packed([part for triple in answers for part in triple]), len(answers)))
    return None if changed < 0 else changed


#: `add_path_rules`' answer for a plain path (files.plain_path), opened with no link on the
#: way: its own real path
OPENED_REAL = 0
#: ... for a path that is not plain (opened with no link on the way all the same)
OPENED = 1


def add_path_rules(paths: Sequence[str], rights: Sequence[int], file_rights: int,
                   ruleset_fds: Sequence[int]) -> list[int]:
    """Open each path O_PATH with no symbolic link followed in any component (a link: ELOOP;
    the plan holds resolved paths, so a link there was put in since), keep only `file_rights`
    of its rights unless it is a directory, and add a path-beneath rule with them to each of
    the (one or two) rulesets. Per path: OPENED_REAL when the path is plain (files.plain_path:
    opened so, it is its own real path), OPENED when it is not, or -errno when it could not
    be opened. OSError when adding a rule failed."""
    if not 1 <= len(ruleset_fds) <= 2:
        raise ValueError("one or two rulesets")
    backend = _backend()
    if backend is None:
        return _add_path_rules_py(paths, rights, file_rights, ruleset_fds)
    ffi, lib = backend
    n = len(paths)
    results = ffi.new("int32_t[]", max(n, 1))
    done = lib.stk_add_path_rules(_packed(paths) if paths else b"\0",
                                  ffi.new("uint64_t[]", [int(r) for r in rights] or [0]),
                                  n, file_rights, ruleset_fds[0],
                                  ruleset_fds[1] if len(ruleset_fds) > 1 else -1, results)
    if done < 0:
        err = results[-done - 1]
        raise OSError(err, f"{paths[-done - 1]}: {os.strerror(err)}")
    return list(results)[:n]


def _add_path_rules_py(paths: Sequence[str], rights: Sequence[int], file_rights: int,
                       ruleset_fds: Sequence[int]) -> list[int]:
    from stockade.enforce._libc import open_path_no_links
    from stockade.enforce.landlock import AccessFs, add_path_rule
    from stockade.files import plain_path

    out = []
    for path, access in zip(paths, rights, strict=True):
        try:
            fd = open_path_no_links(path)
        except OSError as err:
            out.append(-(err.errno or errno.EIO))
            continue
        try:
            mode = os.fstat(fd).st_mode if access & ~file_rights else stat.S_IFDIR
        except OSError as err:
            os.close(fd)
            out.append(-(err.errno or errno.EIO))
            continue
        try:
            if not stat.S_ISDIR(mode):  # only file rights: nothing to take off either way
                access &= file_rights
            if access:
                for ruleset_fd in ruleset_fds:
                    add_path_rule(ruleset_fd, fd, AccessFs(access))
        except OSError as err:
            if err.filename is None and err.errno is not None:
                raise OSError(err.errno, f"{path}: {os.strerror(err.errno)}") from None
            raise
        finally:
            os.close(fd)
        out.append(OPENED_REAL if plain_path(path) else OPENED)
    return out
