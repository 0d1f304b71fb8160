"""The user's cache directory ($XDG_CACHE_HOME, else ~/.cache), only where it is the user's
(and the home the audit store defaults to, by the same rule).

stockade keeps caches there (compiled plans, SELinux policy dumps) and makes what is missing
beneath it. A process whose HOME is not its user's (`sudo -E` keeps the caller's; a service
user's HOME=/nonexistent) must not make directories in another user's home, nor in a home
that does not exist: root's `run -p` with HOME=/nonexistent and XDG_CACHE_HOME under it made
/nonexistent/.cache/stockade/plans. So the cache directory is used only when it exists and is
a directory of the effective user, or when its parent is one; otherwise there is none, and
`status` says why.
"""

from __future__ import annotations

import os

#: the home of users that have none (Debian policy 9.2.1), even where something made it
NO_HOME = "/nonexistent"


def own_home(variable: str) -> tuple[str | None, str]:
    """(HOME, "") when it is an existing directory of the effective user, else (None, why;
    `variable`, such as XDG_CACHE_HOME, can name another place)."""
    home = os.path.expanduser("~")
    if not os.path.isabs(home) or home == NO_HOME:
        return None, f"no home directory for this user ({variable} can name one)"
    why = _not_own_directory(home, "this user's home")
    return (None, f"{why} ({variable} can name another place)") if why else (home, "")


def cache_home() -> tuple[str | None, str]:
    """(the cache directory, "") or (None, why this user has none). Asked without making
    anything."""
    return _user_directory("XDG_CACHE_HOME", ".cache", "the cache directory")


def config_home() -> tuple[str | None, str]:
    """(the configuration directory: $XDG_CONFIG_HOME, else ~/.config, "") or (None, why this
    user has none), by the cache directory's rule. Asked without making anything."""
    return _user_directory("XDG_CONFIG_HOME", ".config", "the configuration directory")


def profiles_dir() -> str | None:
    """Where `learn` writes a new profile without -o (as aa-genprof writes /etc/apparmor.d):
    stockade/profiles in the configuration directory; None for a user without one. Asked
    without making anything. Every `run` refuses a plan that may write it (cli/run/exposure.py
    `_refuse_store_exposure`): later `run -p NAME` read what is there."""
    base = config_home()[0]
    return os.path.join(base, "stockade", "profiles") if base is not None else None


def find_profile(name: str) -> str:
    """The profile file a command is given as `name`: `name` itself when it exists or holds a
    `/`; else, when there is one, the profile of that file name in `profiles_dir()` (`run -p
    usr.bin.tar` after `learn -- tar ...`); else `name` (the command says it is missing)."""
    if "/" in name or os.path.lexists(name):
        return name
    directory = profiles_dir()
    found = os.path.join(directory, name) if directory and name not in (".", "..") else ""
    return found if found and os.path.isfile(found) else name


def stockade_base() -> tuple[str, list[str]] | None:
    """The directory the user names for caches (XDG_CACHE_HOME, else the home directory), and
    the components below it up to stockade's own directory (`.cache`, `stockade`): those are
    walked without following a link (a sandbox that may write ~/.cache could put one there:
    red team 12, rt/plan_cache_parent_link.sh). None where the user has no cache directory of
    its own (a home that does not exist or is not the user's: cache_home)."""
    base = cache_home()[0]
    if base is None:
        return None
    if os.path.isabs(os.environ.get("XDG_CACHE_HOME") or ""):
        return base, ["stockade"]
    return os.path.dirname(base), [".cache", "stockade"]  # base is HOME/.cache


def cache_dir(name: str = "plans") -> str | None:
    """Where this user's compiled plans (or another of stockade's caches: `name`) are cached;
    None when there is no such place."""
    trusted = stockade_base()
    if trusted is None:
        return None
    return os.path.join(trusted[0], *trusted[1], name)


def _user_directory(variable: str, leaf: str, what: str) -> tuple[str | None, str]:
    base = os.environ.get(variable) or ""
    if not os.path.isabs(base):
        home, why = own_home(variable)
        if home is None:
            return None, why
        base = os.path.join(home, leaf)
    why = _not_own_directory(base, what) if os.path.lexists(base) else \
        _not_own_directory(os.path.dirname(base), f"{what}'s parent")
    return (None, why) if why else (base, "")


def _not_own_directory(path: str, what: str) -> str | None:
    """Why `path` is not an existing directory of the effective user; None if it is."""
    import stat

    try:
        st = os.stat(path)
    except FileNotFoundError:
        return f"{what} {path} does not exist"
    except OSError as err:
        return f"{what} {path}: {err.strerror}"
    if not stat.S_ISDIR(st.st_mode):
        return f"{what} {path} is not a directory"
    if st.st_uid != os.geteuid():
        return f"{what} {path} belongs to uid {st.st_uid}, not to uid {os.geteuid()}"
    return None
