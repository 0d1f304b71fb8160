"""The SELinux module's cache of SETools dumps (modules/selinux/importer.py), kept as the plan
cache keeps plans: in a private directory pinned with O_NOFOLLOW (`Store`), each entry
authenticated with the key in the user's kernel keyring.

The dump decides what a later `run --lsm selinux` allows, and ~/.cache is often inside a
sandbox's writable grants: an unauthenticated file there could be rewritten (every type made
permissive) or replaced by a link the next run writes through (red team 12). While a mark says
the key may be exposed (marks.py) the cache is neither read nor written.

The MAC covers the entry's body, not its name: the body says which policy it is the dump of
(its SHA-256, the dump format), and `load` takes it only for that policy. Otherwise a sandbox
that may write ~/.cache could copy the authentic dump of another policy the user once ran
with over this policy's entry (red team 13)."""

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

    def load(self, name: str, identity: dict[str, Any]) -> Any | None:
        """The dump kept as `name` if its body says it is the dump of `identity` (the policy's
        hash and the dump format), else None (missing; not authentic, or another policy's:
        dropped)."""
        try:
            found = self.store.read(name)
        except ValueError:
            self.store.remove(name)
            return None
        if found is None:
            return None
        if found[0].get("identity") != identity:
            self.store.remove(name)
            return None
        return found[0].get("dump")

    def save(self, name: str, data: Any, identity: dict[str, Any]) -> None:
        """Keep `data`, the dump of `identity`, as `name` (a failure only costs the next run
        time)."""
        with suppress(OSError, ValueError):
            self.store.write(name, {"identity": identity, "dump": data})

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
