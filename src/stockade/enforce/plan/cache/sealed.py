"""Other caches of the launcher's kept as the plan cache keeps plans: a directory beside
`plans` (~/.cache/stockade/KIND), reached without following a link, private, and entries
authenticated under the plan cache's key (store.Store: MAC'd, O_NOFOLLOW, O_EXCL temporary
files renamed into place), trusted only while no sandbox may know the key (marks.py).

Used for the SELinux module's dumps of binary policies (modules/selinux/importer.py): a
program that may write ~/.cache rewrote a cached dump (every type permissive) or planted a
link at its temporary name, so that the next run widened its policy or had the unconfined
launcher overwrite a file of the user's (red team 12). An entry is `meta` (what it was made
from, compared on reading) and a blob of bytes.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any


def directory(kind: str) -> str | None:
    """~/.cache/stockade/KIND (beside the plan cache); None when this user has no cache."""
    from stockade.enforce.plan.cache.store import cache_dir

    plans = cache_dir()
    return None if plans is None else os.path.join(os.path.dirname(plans), kind)


def load(kind: str, name: str, meta: dict[str, Any]) -> tuple[bytes | None, str]:
    """The blob of entry `name` of cache `kind` if it is authentic and made from `meta`,
    and what the cache did in a few words (why there is no blob)."""
    from stockade.enforce.plan.cache import open_trusted, still_trusted

    where = directory(kind)
    if where is None:
        return None, "off (no cache directory)"
    store, serial, off = open_trusted(where)
    if store is None:
        return None, f"off ({off})"
    try:
        try:
            found = store.read(name)
        except ValueError as err:
            store.remove(name)
            return None, f"refused entry {name}: {err}"
        if found is None:
            return None, "miss"
        body, blob = found
        if body != meta:
            return None, "miss (another key)"
        why = still_trusted(serial)
        return (blob, "hit") if why is None else (None, f"not used: {why}")
    finally:
        store.close()


def save(kind: str, name: str, meta: dict[str, Any], blob: bytes) -> str:
    """Store `blob` as entry `name` of cache `kind`; what the cache did, in a few words."""
    from stockade.enforce.plan.cache import open_trusted

    where = directory(kind)
    if where is None:
        return "off (no cache directory)"
    store, _, off = open_trusted(where)
    if store is None:
        return f"off ({off})"
    try:
        store.write(name, meta, blob)
    except OSError as err:
        return f"not stored: {err.strerror or err}"
    finally:
        store.close()
    return f"stored ({where})"
