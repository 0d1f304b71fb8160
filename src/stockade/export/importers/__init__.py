"""Importers: policy written for other engines -> a stockade profile (profile text).

Each importer returns an `Imported` (the profile text and notes on what changed in meaning);
`stockade import --from FORMAT FILE -o PROFILE` writes it. `export(import(x))` keeps x's
meaning for what the target expresses (tests/export/test_import_*.py).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from stockade.errors import UsageError

#: --from name -> module with `import_file(path, name, **options) -> Imported`.
IMPORTERS: dict[str, str] = {
    "oci-seccomp": "stockade.export.importers.oci_seccomp",
    "systemd": "stockade.export.importers.systemd",
}


@dataclass
class Imported:
    """A profile's text and what the import could not keep exactly."""

    text: str
    notes: list[str] = field(default_factory=list)


def importer(name: str) -> Callable[..., Imported]:
    """The import function of format `name` (a usage error for an unknown one)."""
    module = IMPORTERS.get(name)
    if module is None:
        raise UsageError(f"--from {name}: unknown format (formats: {', '.join(IMPORTERS)})")
    return importlib.import_module(module).import_file  # type: ignore[no-any-return]


def profile_name(text: str) -> str:
    """A profile name from a file name (`docker-default.json` -> `docker-default`)."""
    base = re.sub(r"\.(json|service|conf)$", "", text.rsplit("/", 1)[-1])
    name = re.sub(r"[^A-Za-z0-9_.-]", "-", base).strip("-.")
    return name or "imported"


def words(names: list[str], per_line: int = 6) -> str:
    """`(a, b, c)` wrapped for a profile."""
    lines = [", ".join(names[i:i + per_line]) for i in range(0, len(names), per_line)]
    return "(" + (",\n      ".join(lines)) + ")"


def baseline_rest(mentioned: set[str], head: str) -> list[str]:
    """For an allow-list import: `HEAD (calls),` giving stockade's baseline calls the import
    does not mention the import's default answer instead of the baseline's."""
    from stockade.enforce import defaults

    rest = sorted({r.syscall for r in defaults.baseline_seccomp_rules()} - mentioned)
    return [f"{head} {words(rest)},"] if rest else []


def known_syscall(name: str) -> bool:
    """Whether this machine's libseccomp knows system call `name` (on any architecture):
    runtimes and systemd built on it ignore the names it cannot resolve, even where `run`
    knows their numbers."""
    from stockade.enforce import seccomp as sc
    from stockade.export.oci_seccomp import libseccomp_cannot_name

    if libseccomp_cannot_name(name):
        return False
    try:
        sc.resolve_syscall(name)
    except KeyError:
        return False
    return True


def split_known(names: list[str], dropped: set[str]) -> list[str]:
    """`names` libseccomp knows; the others are added to `dropped`."""
    dropped.update(n for n in names if not known_syscall(n))
    return [n for n in names if known_syscall(n)]
