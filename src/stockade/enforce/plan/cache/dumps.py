"""The SELinux module's cache of SETools dumps (modules/selinux/importer.py), kept as the plan
cache keeps plans: in a private directory pinned with O_NOFOLLOW (`Store`), each entry
authenticated with the key in the user's kernel keyring.

The dump decides what a later `run --lsm selinux` allows, and ~/.cache is often inside a
sandbox's writable grants: an unauthenticated file there could be rewritten (every type made
permissive) or replaced by a link the next run writes through (red team 12). While a mark says
the key may be exposed (marks.py) the cache is neither read nor written."""

from __future__ import annotations

from stockade.enforce.plan.cache.store import Store
from stockade.suppress import suppress

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any


class DumpCache:
    """`load(name)` and `save(name, data)` of dumps in an authenticated store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def load(self, name: str) -> Any | None:
        """The dump kept as `name`, or None (missing, not authentic: dropped)."""
        try:
            found = self.store.read(name)
        except ValueError:
            self.store.remove(name)
            return None
        return None if found is None else found[0].get("dump")

    def save(self, name: str, data: Any) -> None:
        """Keep `data` as `name` (a failure only costs the next run time)."""
        with suppress(OSError, ValueError):
            self.store.write(name, {"dump": data})

    def close(self) -> None:
        """Release the directory."""
        self.store.close()


def open_cache() -> DumpCache | None:
    """The cache of this user, or None when it cannot be trusted (no key, a mark) or made."""
    from stockade.enforce.plan.cache import keyring, marks
    from stockade.enforce.plan.cache.store import cache_dir

    directory = cache_dir("selinux-dumps")
    if directory is None or marks.present() is not None:
        return None
    held = keyring.held(create=True)
    if held is None:
        return None
    try:
        return DumpCache(Store.open(directory, held[1]))
    except OSError:
        return None


def install() -> None:
    """Have the SELinux importer keep its dumps here (a command that may load a binary
    policy calls this before building its stack; the module alone caches nothing)."""
    from stockade.modules.selinux import importer

    importer.DUMP_CACHE = open_cache
