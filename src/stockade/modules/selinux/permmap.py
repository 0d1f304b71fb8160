"""SETools' permission map: for each class and permission, the direction information flows
(r: object to subject, w: subject to object, b: both, n: none) and a weight 1-10.

`seinfoflow` weighs flows with the `perm_map` file that python3-setools ships; reading the
same file makes stockade's flows weigh the same. Where SETools is not installed, a small
built-in map (class-independent, stockade's own) is used instead and `PermMap.source` says so.
"""

from __future__ import annotations

import glob
import os
from dataclasses import dataclass, field

from stockade.errors import StockadeError

# where Debian/Fedora install python3-setools' data file, first match wins
_CANDIDATES = ("/usr/lib/python3/dist-packages/setools/perm_map",
               "/usr/lib/python3*/site-packages/setools/perm_map",
               "/usr/lib64/python3*/site-packages/setools/perm_map",
               "/usr/local/lib/python3*/dist-packages/setools/perm_map")

# the fallback: permission -> (direction, weight), whatever the class
BUILTIN: dict[str, tuple[str, int]] = {
    "read": ("r", 10), "recv": ("r", 10), "recvfrom": ("r", 9), "receive": ("r", 9),
    "execute": ("r", 7), "map": ("r", 6), "getattr": ("r", 3), "search": ("r", 2),
    "read_policy": ("r", 8), "entrypoint": ("r", 4), "getopt": ("r", 2), "accept": ("r", 4),
    "write": ("w", 10), "append": ("w", 9), "send": ("w", 10), "sendto": ("w", 9),
    "send_msg": ("w", 9), "create": ("w", 6), "add_name": ("w", 6), "remove_name": ("w", 5),
    "setattr": ("w", 5), "unlink": ("w", 4), "rename": ("w", 4), "link": ("w", 3),
    "rmdir": ("w", 4), "relabelto": ("w", 5), "relabelfrom": ("w", 5), "setopt": ("w", 2),
    "signal": ("w", 3), "sigkill": ("w", 3), "sigstop": ("w", 3), "sigchld": ("w", 1),
    "transition": ("w", 5), "dyntransition": ("w", 5), "setexec": ("w", 3), "connect": ("w", 3),
    "ptrace": ("b", 10), "ioctl": ("b", 5), "lock": ("b", 1), "connectto": ("b", 8),
    "use": ("b", 7), "acquire_svc": ("b", 5), "name_connect": ("w", 3), "name_bind": ("b", 1),
}


@dataclass
class PermMap:
    """Directions and weights per class and permission; `source` names the file read."""

    classes: dict[str, dict[str, tuple[str, int]]] = field(default_factory=dict)
    source: str = "builtin"

    def get(self, tclass: str, perm: str) -> tuple[str, int]:
        """(direction, weight); an unmapped permission carries no flow ("n", 0)."""
        if self.source == "builtin":
            return BUILTIN.get(perm, ("n", 0))
        return self.classes.get(tclass, {}).get(perm, ("n", 0))


def parse(text: str, source: str) -> PermMap:
    """A perm_map file's text: `class NAME COUNT`, then `PERM DIR [WEIGHT]` lines."""
    pm = PermMap(source=source)
    current: dict[str, tuple[str, int]] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words or (len(words) == 1 and words[0].isdigit() and current is None):
            continue
        if words[0] == "class" and len(words) == 3:
            current = pm.classes.setdefault(words[1], {})
            continue
        if current is None or len(words) not in (2, 3) or words[1] not in ("r", "w", "b", "n"):
            raise StockadeError(f"{source}:{number}: not a permission map line: {raw.strip()!r}")
        weight = int(words[2]) if len(words) == 3 and words[2].isdigit() else 10
        if not 1 <= weight <= 10:
            raise StockadeError(f"{source}:{number}: weight {weight} is not 1-10")
        current[words[0]] = (words[1], weight)
    return pm


def find() -> str | None:
    """The path of SETools' perm_map ($STOCKADE_PERM_MAP first), or None."""
    env = os.environ.get("STOCKADE_PERM_MAP")
    if env:
        return env
    for pattern in _CANDIDATES:
        for path in sorted(glob.glob(pattern)):
            if os.path.isfile(path):
                return path
    return None


def load(path: str | None = None) -> PermMap:
    """SETools' map when it can be found (or `path`), else the built-in one."""
    path = path or find()
    if path is None:
        return PermMap()
    try:
        with open(path, encoding="utf-8") as f:
            return parse(f.read(), path)
    except OSError as err:
        raise StockadeError(f"cannot read permission map {path}: {err.strerror}") from None
