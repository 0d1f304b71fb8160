"""A cache of compiled plans, so that a repeated `stockade run -p P` skips parsing, compiling
and expanding globs: it reads one authenticated JSON file, checks it and goes on to open the
paths and build the ruleset.

What a cached plan depends on, and how each is checked:
* the inputs: the profile path, -I directories, --profile-name, the working directory
  (relative includes), the kernel's Landlock ABI, the effective uid, stockade's version and a
  fingerprint of its plan-compiler sources (their names, sizes and mtimes): the cache key,
  which names the entry and is stored in it. The ad-hoc flags (--rw, --connect-tcp, ...) are
  not part of it: they are merged into the profile's plan after the cache, on every run.
* the filesystem: compiling reads the profile and its includes, resolves include names
  against the search path (a file that appears in an earlier directory changes the result),
  and expands globs against the directories that exist at launch. Every one of these
  questions goes through `stockade.fsview`, which records it with a fingerprint of its answer
  (file contents by BLAKE2b; directories by identity and mtime/ctime, or by a hash of their
  entries where timestamps cannot be trusted); a cached plan is used only if every question
  gets the same answer now. So a glob never grants a path that no longer matches, nor misses
  a newly created one; the one exception, processes in /proc, is explained in fsview.
  We chose to record and re-check the walk rather than cache only the filesystem-independent
  part (the compiled profile): expanding globs is most of the cost (for abstractions/base,
  about 90% of compiling), so caching less would save little.

Integrity: a sandboxed program must not make a later run accept a wider plan.
* No pickle: entries are JSON decoded into the plan classes only (codec.py).
* A plan's coverage entries are in a side file read only when something lists them, whose
  digest the entry holds (deferred.py).
* Entries are authenticated with keyed BLAKE2b-256 (a MAC; stockade.digest) under a key in
  the user's kernel keyring (keyring.py), which the baseline seccomp filter keeps out of
  every sandbox's reach. A key file could not be kept secret: most profiles grant read
  access to the home directory or /.
* The directory is private (0700, ours, pinned with O_NOFOLLOW|O_DIRECTORY and checked with
  fstat), and so is every component below the user's base (XDG_CACHE_HOME or the home
  directory: `.cache/stockade/plans` is made and opened with no link followed, red team 12);
  entries are opened with O_NOFOLLOW and must be regular files of ours.
* A run whose sandbox could write into the cache directory (a writable grant at, above or
  below it, or no Landlock at all) neither uses nor writes the cache.
* A sandbox that may use the keyring knows the key, or plants its own: its run marks the key
  as exposed before the program starts (marks.py) and drops it; while any mark exists no run
  trusts the key (no read, no write, the key dropped), and a hit is used only if no mark
  appeared and the key it was checked with is still the one in the keyring. The run removes
  its mark after it has ended every process left of its sandbox and dropped the key again.
* A replayed old entry is harmless: its recorded answers no longer match.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Sequence

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any

    from stockade.enforce.plan.cache.marks import Mark
    from stockade.enforce.plan.types import EnforcementPlan, ProfilePlan

FORMAT = 8


def _code_fingerprint() -> str:
    """Names, sizes and mtimes of the sources that compile plans (a changed compiler must
    not reuse the old one's plans; stockade's version alone does not change per commit)."""
    import stockade
    from stockade.digest import hasher

    root = os.path.dirname(stockade.__file__)
    digest = hasher()
    digest.update(stockade.__version__.encode())
    for sub in ("policy", "enforce", os.path.join("enforce", "plan"), ""):
        with os.scandir(os.path.join(root, sub)) as it:
            for e in sorted(it, key=lambda e: e.name):
                if e.name.endswith(".py"):
                    st = e.stat()
                    digest.update(f"{sub}/{e.name}:{st.st_size}:{st.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def cache_key(profile: str, include_dirs: Sequence[str], name: str | None, abi: int,
              program: str | None = None) -> dict[str, Any]:
    """Everything besides the filesystem that the compiled plan depends on."""
    import stockade

    return {"format": FORMAT, "stockade": stockade.__version__, "code": _code_fingerprint(),
            "abi": abi, "euid": os.geteuid(), "cwd": os.getcwd(),
            "profile": os.path.abspath(profile),
            "include_dirs": [os.path.abspath(d) for d in include_dirs], "name": name,
            "program": program}  # picks the profile of a file of several, and is granted


def exposure(directory: str, plan: EnforcementPlan) -> str | None:
    """Why a sandbox under `plan` could change the cache directory, or None if it cannot."""
    from stockade.enforce.status_record import exposure, write_grants

    if not writes_confined(plan):
        return "Landlock does not restrict writing files here"
    return exposure(directory, write_grants(plan))  # supervised rights included


def writes_confined(plan: EnforcementPlan) -> bool:
    """Whether Landlock restricts where a sandbox under `plan` may write files."""
    from stockade.enforce.status_record import writes_confined

    return writes_confined(plan)


def keyring_reachable(plan: EnforcementPlan) -> bool:
    """Whether a program under `plan` may call keyctl (the baseline refuses it)."""
    from stockade.enforce.defaults import keyring_reachable  # a plain run asks it there

    return keyring_reachable(plan)


def forget_key() -> bool:
    """Drop the key (and so every entry made with it); False when one is left."""
    from stockade.enforce.plan.cache import keyring

    return keyring.forget()


def mark_exposed(plan: EnforcementPlan, protected: bool = True) -> Mark:
    """Mark the key as exposed to the sandbox of `plan` (which may use the keyring) until the
    mark is cleared. Raises OSError when it cannot be marked, or when a writable grant of the
    sandbox covers the mark. Where the sandbox may write anywhere (complain mode: `protected`
    False; no Landlock file rules; a writable grant on /) the program may change any file of
    the user's (its profiles and shell start-up files too): the mark is all we can do."""
    from stockade.enforce.plan.cache.marks import Mark, directory

    where = directory()
    from stockade.enforce.status_record import writes_anywhere

    why = exposure(where, plan) if where and protected and not writes_anywhere(plan) else None
    if why is not None:
        raise OSError(f"the program may use the kernel keyring that holds the plan cache's "
                      f"key, and could remove the mark that says so from {where}: {why}")
    mark = Mark()
    mark.place()
    return mark


def end_exposure(mark: Mark | None) -> tuple[int, bool]:
    """After a program that may use the keyring: kill what it left (its launcher adopted it:
    enforce/leftovers.py), drop the key, and clear `mark` unless a key is left (the cache then
    stays off). How many processes were left, and whether the key was dropped."""
    from stockade.enforce import leftovers

    ended = leftovers.end()
    dropped = forget_key()
    if dropped and mark is not None:
        mark.clear()
    return ended, dropped


def compile_file(profile: str, include_dirs: Sequence[str], name: str | None, *,
                 program: str | None = None, use_cache: bool = True,
                 exposed: Callable[[ProfilePlan], str | None] | None = None,
                 compiling: Callable[[], None] | None = None, prebuild: bool = False,
                 ) -> tuple[ProfilePlan, str]:
    """The compiled plan of `profile` (from the cache when it is still what compiling would
    give) and what the cache did, in a few words. `exposed(pp)` says why the sandbox of a
    plan could write into the cache directory (then the cache is neither used nor written);
    `compiling()` is called before the profile is compiled (not on a hit). `prebuild`: a hit
    leaves the Landlock rulesets of its plan's grants built for `prepare` (prepare.prebuild),
    built while the recorded directories are checked."""
    from stockade import fsview
    from stockade.enforce import landlock as ll

    def fresh() -> ProfilePlan:
        from stockade.enforce.plan import profile as planmod

        if compiling is not None:
            compiling()
        return planmod.compile_file(profile, include_dirs, name, program=program)

    if not use_cache:
        return fresh(), "off (--no-cache)"
    directory = cache_dir()
    if directory is None:
        return fresh(), "off (no cache directory)"
    from stockade.enforce.plan.cache import keyring, marks
    from stockade.enforce.plan.cache.store import Store, entry_name

    abi = ll.abi_version()
    untrusted = marks.present()
    if untrusted is not None:
        keyring.forget()
        return fresh(), f"off ({untrusted})"
    held = keyring.held(create=True)
    if held is None:
        return fresh(), "off (the kernel keyring is not available)"
    serial, secret = held
    try:
        store = Store.open(directory, secret)
    except OSError as err:
        return fresh(), f"off ({err.strerror or err})"
    try:
        key = cache_key(profile, include_dirs, name, abi, program)
        entry = entry_name(key)
        pp, status, real = _load(store, entry, key, prebuild)
        if pp is not None:
            why = exposed(pp) if exposed else None
            if why is None:  # the key may have been exposed since we read it
                why = marks.present() or (None if keyring.serial() == serial
                                          else "the key was dropped meanwhile")
            if why is None:
                from stockade.files import vouch_real

                vouch_real(real)
                return pp, f"hit ({directory})"
            _withdraw()
            return fresh(), f"not used: {directory}: {why}"
        with fsview.recording() as observations:
            pp = fresh()
            moved = fsview.unstable()
        if moved is not None:
            return pp, f"{status}; not stored: {moved}"
        why = exposed(pp) if exposed else None
        if why is not None:
            return pp, f"not used: {directory}: {why}"
        from stockade.enforce.plan.cache import deferred
        from stockade.enforce.plan.cache.codec import encode
        from stockade.policy import collector

        # encoding makes no reference cycles: the collector's passes over the plan's live
        # objects found nothing (0.45 s of a 100,000-rule cold run, 290 passes)
        try:
            with collector.paused():
                rest, dirs = fsview.split_dirs(observations)
                bare, coverage, side = deferred.split(pp)
                kept = deferred.side_name(entry, coverage["digest"])
                store.write_side(kept, side)
                store.write(entry, {"key": key, "observations": rest, "plan": encode(bare),
                                    "coverage": coverage, "unpinned": unpinned(pp, observations)},
                            dirs.encode("utf-8", "surrogateescape"))
                store.drop_sides(entry, keep=kept)
        except OSError as err:
            return pp, f"{status}; not stored: {err.strerror}"
        return pp, f"{status}; stored ({directory})"
    finally:
        store.close()


def _withdraw() -> None:
    from stockade.enforce.prepare import withdraw

    withdraw()


def _load(store: Any, entry: str, key: dict[str, Any], prebuild: bool = False
          ) -> tuple[ProfilePlan | None, str, list[str]]:
    """The cached plan if its entry is authentic, for `key`, and still valid; and the paths of
    its grants that are their own real paths (see `unpinned`). `prebuild`: see
    `compile_file` (withdrawn unless the plan is returned)."""
    from stockade import fsview
    from stockade.enforce import fsbatch
    from stockade.enforce.plan.cache import deferred
    from stockade.enforce.plan.cache.codec import CodecError, plan_from_json

    try:
        found = store.read(entry)
    except ValueError as err:
        store.remove(entry)
        return None, f"refused entry {entry}: {err}", []
    if found is None:
        return None, "miss", []
    body, dirs = found  # the directory fingerprints: the blob after the JSON (fsview.split_dirs)
    observations, skip = body.get("observations"), body.get("unpinned")
    if (body.get("key") != key or not _well_formed(observations) or body.get("dirs", "") != ""
            or not isinstance(skip, list) or not all(type(i) is int for i in skip)):
        return None, "miss (another key)", []
    kinds = [o for o in observations if o[0] in fsbatch.KIND_QUESTIONS]
    try:
        # the file types, owners and directories' stats (C, in a thread of their own) overlap
        # the other answers' checks, the decoding and the opens of the grants (prebuild); the
        # plan is used only once every answer is the same
        dirs_changed = fsbatch.check_dirs_started(dirs, kinds)  # type: ignore[arg-type]
    except ValueError:
        return None, "miss (malformed entry)", []
    try:
        changed = fsview.still_valid([tuple(o) for o in observations  # type: ignore[misc]
                                      if o[0] not in fsbatch.KIND_QUESTIONS])
        pp = coverage = None
        if changed is None:
            pp = plan_from_json(body.get("plan"))
            coverage = deferred.attach(store, entry, body.get("coverage"))
            if prebuild and coverage is not None:
                from stockade.enforce.prepare import prebuild as build_ahead

                build_ahead(pp.plan)
    except CodecError as err:
        return None, f"miss ({err})", []
    except ValueError:
        return None, "miss (malformed entry)", []
    finally:
        try:
            changed_dir = dirs_changed()
        except ValueError:  # the directory list, found malformed as it was walked
            changed_dir = "malformed directory list"
    if changed is None:
        changed = changed_dir
    if changed is not None or pp is None:
        _withdraw()
        return None, f"miss (changed: {changed})", []
    if coverage is None:
        return None, "miss (its coverage file is gone)", []
    pp.coverage = coverage
    left_out = set(skip)
    return pp, "hit", [r.path for i, r in enumerate(pp.plan.fs_rules) if i not in left_out]


def unpinned(pp: ProfilePlan, observations: list[tuple[str, str, str]]) -> list[int]:
    """The positions of the plan's fs rules whose path is not shown to be its own real path
    by the recorded answers alone. The others are, as long as those answers hold (which a hit
    has just checked), so the supervisor's plan model need not resolve them again: a path is
    shown when, going up from it, each component was answered as not a link (`l`), or lies
    in a directory whose listing is fingerprinted (`d`: a link put in its place changes the
    fingerprint), up to one whose real path was answered as itself (`r`), or to /."""
    from stockade.files import realpaths
    from stockade.fsview import volatile

    resolved = {p for q, p, a in observations if q == "r" and a == p}
    link = f"T{stat.S_IFLNK:o}"
    plain = {p for q, p, a in observations if q == "l" and a.startswith("T") and a != link}
    listed = {p for q, p, a in observations if q == "d" and a[:1] in ("m", "h")}
    known: dict[str, bool] = {"/": True}

    def shown(path: str) -> bool:
        if path not in known:
            if path in resolved:
                known[path] = True
            else:
                parent = os.path.dirname(path)
                # a listing of /proc leaves the process entries out of its fingerprint
                known[path] = ((path in plain or (parent in listed and not volatile(path)))
                               and shown(parent))
        return known[path]

    paths = [r.path for r in pp.plan.fs_rules]
    return [i for i, (path, real) in enumerate(zip(paths, realpaths(paths), strict=True))
            if path != real or not path.startswith("/") or not shown(path)]


def _well_formed(observations: Any) -> bool:
    """A list of lists of three strings (asked by maps in C: a 100,000-rule entry records
    12,000 answers, and a generator step per answer and string was 2.5 ms of its hit)."""
    from itertools import chain

    return (isinstance(observations, list) and set(map(type, observations)) <= {list}
            and set(map(len, observations)) <= {3}
            and set(map(type, chain.from_iterable(observations))) <= {str})


def cache_dir() -> str | None:
    """Where compiled plans are cached for this user (None: nowhere)."""
    from stockade.cache_home import cache_dir as where  # not store: a plain run asks it

    return where()
