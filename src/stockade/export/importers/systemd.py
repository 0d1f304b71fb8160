"""A systemd unit's sandboxing directives (systemd.exec(5)) -> a stockade profile.

Read from the [Service] section of a unit file or drop-in (later assignments add to or, when
empty, reset a list, as systemd does): ProtectSystem=, ProtectHome=, ReadWritePaths=,
ReadOnlyPaths=, InaccessiblePaths=, ExecPaths=, NoExecPaths=, RestrictAddressFamilies=,
SystemCallFilter= (groups expanded by `systemd-analyze syscall-filter`, the installed
systemd's own tables), SystemCallErrorNumber=, CapabilityBoundingSet=, LimitXXX=. Other
directives are listed in the notes, as are the places where stockade is stricter (its
baseline) or cannot follow (SocketBind*, address family "none").
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field

from stockade.enforce.plan.syscalls import RLIMIT_NUMBERS
from stockade.errors import StockadeError, UsageError
from stockade.export.importers import (
    Imported,
    baseline_rest,
    profile_name,
    split_known,
    words,
)
from stockade.export.systemd import SYSTEMD_IMPLICIT
from stockade.host import tools

LISTS = ("ReadWritePaths", "ReadOnlyPaths", "InaccessiblePaths", "ExecPaths", "NoExecPaths",
         "SystemCallFilter", "RestrictAddressFamilies", "CapabilityBoundingSet",
         "SocketBindAllow", "SocketBindDeny")
#: A network rule's access words without `bind` (its binds stay with the port rules).
NO_BIND = "(create, connect, listen, accept, send, receive)"
SCALARS = ("ProtectSystem", "ProtectHome", "SystemCallErrorNumber", "NoNewPrivileges",
           "SystemCallArchitectures", "AmbientCapabilities", "RestrictNamespaces",
           "RestrictSUIDSGID", "Environment")
HOMES = ("/home", "/root", "/run/user")
SYSTEM_DIRS = {"yes": ("/usr", "/boot", "/efi"), "true": ("/usr", "/boot", "/efi"),
               "full": ("/usr", "/boot", "/efi", "/etc")}
#: Files a unit without ProtectSystem=strict can still write under strict (API file systems).
API_FS = ("/dev", "/proc", "/sys")
ALL_PERMS = "rwlkm"


@dataclass
class Unit:
    """The [Service] directives that matter here: lists (in order) and last values."""

    lists: dict[str, list[str]] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    limits: dict[str, str] = field(default_factory=dict)
    ignored: list[str] = field(default_factory=list)


def parse_unit(text: str, path: str = "") -> Unit:
    """The [Service] section of a unit file (continuation lines, comments, list resets)."""
    unit = Unit()
    section = ""
    logical: list[str] = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        logical.append(line) if section == "Service" else None
    for line in logical:
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep:
            raise StockadeError(f"{path}: not KEY=VALUE: {line[:60]!r}")
        if key in LISTS:
            current = unit.lists.setdefault(key, [])
            if not value:
                current.clear()
            current.extend(value.split())
        elif key in SCALARS:
            unit.values[key] = value
        elif key.startswith("Limit"):
            unit.limits[key] = value
        elif key not in ("ExecStart", "ExecStartPre", "ExecStartPost", "ExecReload",
                         "ExecStop", "ExecStopPost", "Type", "User", "Group", "Restart"):
            unit.ignored.append(key)
    return unit


def syscall_groups() -> dict[str, list[str]]:
    """`@group` -> members, from `systemd-analyze syscall-filter` (the installed tables)."""
    program = tools.find("systemd-analyze")
    if program is None:
        raise StockadeError("SystemCallFilter= groups need systemd-analyze (systemd): "
                            + tools.why_missing("systemd-analyze"))
    out = subprocess.run([program, "syscall-filter", "--no-pager"],
                         capture_output=True, text=True, timeout=60).stdout
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in out.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.split("#")[0].strip(), [])
        elif current is not None and line.startswith("    ") and not line.strip().startswith("#"):
            current.append(line.strip())
    return groups


def expand(entries: list[str], groups: dict[str, list[str]]) -> list[str]:
    """Names of `entries` with groups expanded (recursively), in order, once each."""
    out: dict[str, None] = {}

    def add(name: str, seen: frozenset[str]) -> None:
        if name.startswith("@"):
            if name not in groups:
                raise StockadeError(f"SystemCallFilter=: unknown group {name}")
            if name not in seen:
                for member in groups[name]:
                    add(member, seen | {name})
        else:
            out[name] = None

    for entry in entries:
        add(entry, frozenset())
    return list(out)


def _paths(values: list[str]) -> list[str]:
    """Paths without systemd's '-' / '+' prefixes."""
    return [v.lstrip("-+") for v in values if v.lstrip("-+")]


def _file_rules(unit: Unit, notes: list[str]) -> list[str]:
    protect = unit.values.get("ProtectSystem", "no").lower()
    noexec = _paths(unit.lists.get("NoExecPaths", []))
    exec_all = "/" not in noexec
    base = ("r" + ("mix" if exec_all else "")) if protect == "strict" else \
        (ALL_PERMS + ("ix" if exec_all else ""))
    lines = [f"/{{,**}} {base},"]
    if protect == "strict":
        for path in [*API_FS, *_paths(unit.lists.get("ReadWritePaths", []))]:
            lines.append(f"{path}{{,/**}} rwlk,")
    else:
        for path in SYSTEM_DIRS.get(protect, ()):
            lines.append(f"deny {path}{{,/**}} wl,")
        if protect not in ("no", "false", *SYSTEM_DIRS):
            raise StockadeError(f"ProtectSystem={protect}: not a value systemd knows")
    for path in _paths(unit.lists.get("ExecPaths", [])):
        lines.append(f"{path}{{,/**}} rmix,")
    for path in noexec:
        if path != "/":
            lines.append(f"deny {path}{{,/**}} x,")
    home = unit.values.get("ProtectHome", "no").lower()
    inaccessible = _paths(unit.lists.get("InaccessiblePaths", []))
    readonly = _paths(unit.lists.get("ReadOnlyPaths", []))
    if home in ("yes", "true", "tmpfs"):
        inaccessible += list(HOMES)
        if home == "tmpfs":
            notes.append("ProtectHome=tmpfs: imported as inaccessible (empty directories)")
    elif home == "read-only":
        readonly += list(HOMES)
    for path in readonly:
        lines.append(f"deny {path}{{,/**}} wl,")
    for path in inaccessible:
        lines.append(f"deny {path}{{,/**}} rwlkmx,")
    return lines


def _bind_ports(unit: Unit, notes: list[str]) -> list[str] | None:
    """TCP ports of SocketBindAllow= when SocketBindDeny= refuses TCP binds, else None."""
    deny = unit.lists.get("SocketBindDeny", [])
    if not any(d in ("any", "tcp") for d in deny):
        if deny or unit.lists.get("SocketBindAllow"):
            notes.append("SocketBindAllow/Deny= not imported: only 'SocketBindDeny=tcp|any' "
                         "with 'tcp:PORT' allows is (Landlock mediates TCP ports)")
        return None
    if "any" in deny:
        notes.append("SocketBindDeny=any: UDP binds are not restricted (Landlock mediates "
                     "TCP ports only)")
    ports = []
    for rule in unit.lists.get("SocketBindAllow", []):
        m = re.fullmatch(r"(?:ipv[46]:)?(?:tcp:)?(\d+(?:-\d+)?)", rule)
        if m is None or rule.startswith(("udp", "ipv4:udp", "ipv6:udp")):
            notes.append(f"SocketBindAllow={rule}: not imported (narrower: not granted)")
            continue
        ports.append(m.group(1))
    return ports


def _network(unit: Unit, notes: list[str]) -> list[str]:
    lines = _network_families(unit, notes)
    ports = _bind_ports(unit, notes)
    if ports is None:
        return lines
    out = []
    for line in lines:  # family rules keep every right but bind
        m = re.fullmatch(r"network( inet6?)?,", line)
        out.append(f"network {NO_BIND}{m.group(1) or ''}," if m else line)
    families = [f for f in ("inet", "inet6") if any(
        re.fullmatch(rf"network( {f})?,", line) for line in lines)]
    out += [f"network bind {f} stream port={p}," for f in families for p in ports]
    return out


def _network_families(unit: Unit, notes: list[str]) -> list[str]:
    families = unit.lists.get("RestrictAddressFamilies")
    if families is None:
        return ["network,"]
    names = [f.removeprefix("~") for f in families]
    inverted = bool(families) and families[0].startswith("~")
    fams = [n.removeprefix("AF_").lower() for n in names if n != "none"]
    if "none" in names or not fams:
        notes.append("RestrictAddressFamilies=none: AF_UNIX stays allowed (stockade governs "
                     "it with unix rules)")
    if inverted:
        return ["network,"] + [f"deny network {f}," for f in fams]
    return [f"network {f}," for f in fams]


def _syscalls(unit: Unit, notes: list[str]) -> list[str]:
    entries = unit.lists.get("SystemCallFilter")
    if not entries:
        return []
    groups = syscall_groups()
    dropped: set[str] = set()
    err = unit.values.get("SystemCallErrorNumber", "")
    default = f"errno={err}" if err and err != "kill" else "action=kill"
    if entries[0].startswith("~"):
        entries = [entries[0][1:], *entries[1:]]
        by_action: dict[str, list[str]] = {}
        for entry in entries:
            name, _, action = entry.partition(":")
            head = (f"deny syscall errno={action}" if action and action != "kill" else
                    f"syscall {default}" if default.startswith("action") else
                    f"deny syscall {default}")
            by_action.setdefault(head, []).extend(split_known(expand([name], groups), dropped))
        notes.append("stockade's baseline refusals also apply (stricter than the unit "
                     "where the unit allows them)")
        _note_dropped(dropped, notes)
        return [f"{head} {words(names)}," for head, names in by_action.items() if names]
    allowed = expand([e.partition(":")[0] for e in entries], groups)
    allowed = split_known(allowed + [n for n in SYSTEMD_IMPLICIT if n not in allowed], dropped)
    _note_dropped(dropped, notes)
    head = f"deny syscall {default}" if default.startswith("errno") else f"syscall {default}"
    lines = [f"{head.replace('syscall', 'syscall default', 1)},", f"syscall {words(allowed)},"]
    return lines + baseline_rest(set(allowed), head)


def _note_dropped(dropped: set[str], notes: list[str]) -> None:
    if dropped:
        notes.append("dropped (unknown to this libseccomp): " + ", ".join(sorted(dropped)))


def _capabilities(unit: Unit) -> list[str]:
    caps = unit.lists.get("CapabilityBoundingSet")
    if caps is None:
        return ["capability,"]
    if caps and caps[0].startswith("~"):
        names = [caps[0][1:], *caps[1:]]
        return ["capability,"] + [f"deny capability {c.lower().removeprefix('cap_')},"
                                  for c in names if c]
    names = [c.lower().removeprefix("cap_") for c in caps]
    return [f"capability {' '.join(names)},"] if names else []


def _limits(unit: Unit, notes: list[str]) -> list[str]:
    lines = []
    for key, value in unit.limits.items():
        name = key.removeprefix("Limit").lower()
        if name not in RLIMIT_NUMBERS:
            notes.append(f"{key}=: not a resource limit stockade knows")
            continue
        hard = value.split(":")[-1].strip().lower()
        if not re.fullmatch(r"infinity|[0-9]+[a-z]*", hard):
            notes.append(f"{key}={value}: value not imported")
            continue
        lines.append(f"set rlimit {name} <= {hard},")
    return lines


def convert(text: str, name: str, path: str = "") -> Imported:
    """The profile for one unit file's text."""
    unit = parse_unit(text, path)
    notes: list[str] = []
    lines = _file_rules(unit, notes) + _network(unit, notes) + ["signal,", "ptrace,",
                                                                 "unix,"]
    lines += _capabilities(unit) + _limits(unit, notes) + _syscalls(unit, notes)
    if unit.values.get("NoNewPrivileges", "no").lower() not in ("yes", "true", "1"):
        notes.append("no_new_privs is always set by stockade (NoNewPrivileges=yes)")
    arches = unit.values.get("SystemCallArchitectures", "")
    if arches and arches != "native":
        notes.append(f"SystemCallArchitectures={arches}: stockade filters the native ABI only")
    if unit.ignored:
        notes.append("not imported: " + ", ".join(dict.fromkeys(unit.ignored)))
    header = f"# Imported by `stockade import --from systemd` from {path or 'stdin'}."
    body = "\n".join("  " + line for line in lines)
    return Imported(f"{header}\nprofile {name} {{\n{body}\n}}\n", notes)


def import_file(path: str, name: str | None = None, **_options: object) -> Imported:
    """Import the unit file or drop-in at `path`."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise UsageError(f"{path}: {err.strerror}") from None
    except UnicodeDecodeError:
        raise StockadeError(f"{path}: not a text file") from None
    return convert(text, name or profile_name(path), path)
