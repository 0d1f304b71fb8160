"""The code the unconfined launcher runs: stockade's package, the interpreter and what it reads
at every start, and the directories it imports from.

The launcher stays unconfined while the program runs and imports parts of stockade only when a
run needs them (a supervisor handler, the JSON writer of a report), so a sandbox that may write
any of these could change what the launcher executes later in the same run, or in every later
run: a module, its cached bytecode under __pycache__, the interpreter, the console script.
The directories stockade's helper programs come from (host/tools.py: nft, iptables-save,
notify-send, dot, systemd-analyze, which root's `status` or `notify` start unconfined) count
as its code too. `exposure` says which of them the sandbox could write, as
`status_record.exposure` does for the launcher's own files; `run` refuses such a plan.

Every path counts by every name it is reached through and, where it does not exist yet, by its
nearest existing ancestor (name_chain.exposure): the links of the interpreter's name
(.venv/bin/python -> python3 -> /usr/bin/python3), pyvenv.cfg (its `home` moves the standard
library), a sys.path entry not made yet (the user site directory, python311.zip), a module
file that is a link out of its directory (Debian's sitecustomize.py -> /etc/python3.11).
A second hard link of a code file is beyond any path check (docs/enforce.md, "Known limits").
"""

from __future__ import annotations

import os
import stat
import sys

from stockade.enforce import name_chain
from stockade.enforce.landlock import AccessFs

#: the rights that change what a file holds or which file a name is
_FILE_WRITES = AccessFs.WRITE_FILE | AccessFs.MAKE_REG | AccessFs.REMOVE_FILE

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from collections.abc import Iterable


def _search_dirs() -> list[str]:
    """The directories imports search (sys.path, the current directory for an empty entry),
    and the user site directory where site adds it once it exists."""
    dirs = [os.path.abspath(entry or os.curdir) for entry in sys.path]
    site = sys.modules.get("site")
    if site is not None and getattr(site, "ENABLE_USER_SITE", None) is True:
        dirs.append(site.getusersitepackages())
    return dirs


def _interpreter_files() -> list[str]:
    """What starting the interpreter reads by name: the executable, the script, and pyvenv.cfg
    beside the executable or one level up (read at every start, present or not)."""
    out = []
    for path in (sys.executable, sys.argv[0] if sys.argv else ""):
        if path and os.path.isfile(path):
            out.append(os.path.abspath(path))
    if sys.executable:
        here = os.path.dirname(os.path.abspath(sys.executable))
        out += [os.path.join(here, "pyvenv.cfg"),
                os.path.join(os.path.dirname(here), "pyvenv.cfg")]
    return out


def _start_files(dirs: list[str]) -> list[str]:
    """The files every interpreter start runs from the search directories, present now:
    sitecustomize and usercustomize, and the *.pth files of the site directories (a link
    there reaches a file outside the directory: Debian's sitecustomize.py -> /etc/python3.11).
    The directories are listed with listdir, filtered by name (a DirEntry loop over a large
    site-packages cost milliseconds)."""
    out = []
    site = sys.modules.get("site")
    sites = set(site.getsitepackages()) if site is not None else set()
    for directory in dirs:
        for name in ("sitecustomize.py", "usercustomize.py"):
            path = os.path.join(directory, name)
            if os.path.lexists(path):
                out.append(path)
        if directory in sites:
            try:
                names = os.listdir(directory)
            except OSError:
                continue
            out += [os.path.join(directory, n) for n in names if n.endswith(".pth")]
    return out


def _mapped_files() -> list[str]:
    """The files mapped into the launcher (/proc/self/maps: ld.so, libc, libffi, libseccomp,
    extension modules): the dynamic linker maps them again at every start."""
    out: dict[str, None] = {}
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split(None, 5)
                if len(fields) == 6 and fields[5].startswith("/"):
                    path = fields[5].rstrip("\n")
                    if not path.endswith(" (deleted)"):
                        out[path] = None
    except OSError:
        pass
    return list(out)


def code_paths() -> list[str]:
    """Where the launcher's code comes from, by the names it is reached through: stockade's
    package directory, every directory imports search (present or not) and the bytecode
    prefix, the interpreter, the script and pyvenv.cfg, the start-up files of the search
    directories (sitecustomize, usercustomize, *.pth), the files of the modules loaded now
    outside those directories or reached through a link, and the directories of the files
    mapped into the launcher (shared libraries) and the names the kernel and the dynamic
    loader find them through (loader_names), and what the SELinux importer's helper runs
    (modules/selinux/setools_helper.py: the system Python, its standard library and SETools'
    directory), and the directories stockade's helper programs are found in (host/tools.py: a
    program planted there runs unconfined later)."""
    import stockade
    from stockade.host.tools import TOOL_DIRS
    from stockade.modules.selinux import setools_helper

    package = os.path.dirname(os.path.abspath(stockade.__file__))
    dirs = [package, *_search_dirs()]
    if sys.pycache_prefix:  # the bytecode of every module is read from there instead
        dirs.append(os.path.abspath(sys.pycache_prefix))
    paths = dirs + _interpreter_files() + _start_files(list(dict.fromkeys(dirs[1:])))
    paths += TOOL_DIRS
    inside = tuple(d.rstrip("/") + "/" for d in dirs)
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and (not path.startswith(inside) or os.path.islink(path)):
            paths.append(path)
    # by their directories (a grant inside one counts too): fewer paths to judge, 0.4 ms less
    mapped = _mapped_files()
    paths += dict.fromkeys(os.path.dirname(p) for p in mapped if not p.startswith(inside))
    # and by the names the kernel and the loader open them through (PT_INTERP, ld.so.cache)
    from stockade.enforce import loader_names

    paths += loader_names.names(os.path.realpath(sys.executable or "/"), mapped)
    paths += setools_helper.code_paths()  # the SELinux importer's helper, run isolated
    return list(dict.fromkeys(paths))


def writes_anywhere(grants: list[tuple[str, AccessFs]]) -> bool:
    """Whether `grants` hold a write grant on / (an unconfined profile, `/** w`, `--rw /`):
    no check here can make a file sandbox of that (docs/enforce.md, "The launcher's own
    code")."""
    return any(rights & _FILE_WRITES and os.path.realpath(path) == "/" for path, rights in grants)


def exposure(grants: Iterable[tuple[str, AccessFs]], also: Iterable[str] = (),
             known: dict[str, object] | None = None) -> str | None:
    """Why a sandbox holding `grants` could change the launcher's code, or the files in
    `also` it executes (--module-file), as a phrase naming the path and the grant; None when
    it cannot, or when it may write files anywhere (`writes_anywhere`). `known`: as
    `paths_exposure`'s."""
    grants = list(grants)
    if not grants or writes_anywhere(grants):
        return None
    why = paths_exposure([*code_paths(), *(os.path.abspath(p) for p in also)], grants, known)
    if why is not None:
        return why
    return _hard_links(grants)


def _hard_links(grants: list[tuple[str, AccessFs]]) -> str | None:
    """Why a second hard link of one of stockade's modules loaded now could be written: it
    has one and a writable grant lies on its file system. The modules not loaded yet, the
    standard library's and the interpreter's links are not looked for (docs/enforce.md,
    "Known limits": on a host with perf's ~/.debug every run would be refused)."""
    import stockade

    package = os.path.dirname(os.path.abspath(stockade.__file__)) + "/"
    modules = [path for module in list(sys.modules.values())
               if isinstance(path := getattr(module, "__file__", None), str)
               and path.startswith(package)]
    found = hard_linked(modules, grants)
    if found is None:
        return None
    path, links = found
    return (f"{path} has {links} hard links on the file system of a writable grant: the "
            "program could write it through one inside the grant (remove the other links: "
            "perf's ~/.debug keeps such links)")


def hard_linked(paths: Iterable[str], grants: list[tuple[str, AccessFs]]
                ) -> tuple[str, int] | None:
    """The first of `paths` that is a regular file with more than one link on the file system
    of a writable grant in `grants`, and its number of links: a name no path check finds
    could lie inside the grant. None if there is none (or no grant writes)."""
    from stockade.enforce.status_record import WRITE_RIGHTS

    devices = set()
    for grant, rights in grants:
        if rights & WRITE_RIGHTS:
            try:
                devices.add(os.stat(grant).st_dev)
            except OSError:
                continue
    if not devices:
        return None
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue
        if st.st_nlink > 1 and st.st_dev in devices and stat.S_ISREG(st.st_mode):
            return path, st.st_nlink
    return None


def inputs_exposure(inputs: Iterable[str], grants: list[tuple[str, AccessFs]],
                    known: dict[str, object] | None = None) -> str | None:
    """Why `run -p` refuses a profile whose plan writes through `grants`: the first of the
    files it was read from (`inputs`: ProfilePlan.inputs) the program could change, with
    why; None when none is, or when the grants write anywhere (an unconfined profile: no
    file sandbox to protect them in). Asked by `run` before it starts and by `learn` of the
    profile it wrote."""
    return None if writes_anywhere(grants) else paths_exposure(inputs, grants, known)


def paths_exposure(paths: Iterable[str], grants: list[tuple[str, AccessFs]],
                   known: dict[str, object] | None = None) -> str | None:
    """The first of `paths` a sandbox holding `grants` could change, with why; None if none.
    `known`: what this check learnt about the file system (the mount table, the grants'
    positions, the stats of shared ancestors), for a caller that checks several sets of
    paths at one moment (the launcher's code, then the profile's inputs); empty at first."""
    from stockade.enforce.status_record import WRITE_RIGHTS

    paths = list(paths)
    grants = [(g, r) for g, r in grants if int(r) & int(WRITE_RIGHTS)]
    if not paths or not grants:
        return None
    from stockade.enforce import mount_position

    positions: dict[str, object] = {} if known is None else known
    if "\0mounts" not in positions:  # no path holds a NUL
        positions["\0mounts"] = mount_position.mounts()
    table = positions["\0mounts"]
    for path in paths:
        why = name_chain.exposure(path, grants, table=table, positions=positions)
        if why is not None:
            return f"{path} {why}"
    return None
