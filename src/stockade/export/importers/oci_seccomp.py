"""Docker/Podman seccomp JSON (or a plain OCI `linux.seccomp` object) -> a stockade profile.

The Docker format adds `archMap` and per-entry `includes`/`excludes` (architectures,
capabilities, minimum kernel) to the OCI object; engines resolve them when they build a
container's config. The import resolves them the same way for this machine's architecture,
a capability set (`--caps`; else containers.conf's `default_capabilities`, else Docker's
defaults) and the running kernel, then writes:

  all,                                    # files, sockets, signals: seccomp only, as x
  capability CAPS,                        # the set the includes were resolved for
  deny syscall default errno=N,           # defaultAction / defaultErrnoRet
  syscall (...),  deny syscall errno=E (...),  syscall NAME argI=OP:V,  ...
  deny syscall errno=N (...),             # stockade's baseline calls x leaves to its default

Every call x names is decided by x's rules alone (a `syscall` rule replaces the baseline's
rules for its calls), so `export --format oci-seccomp` of the profile loads into a runtime
with the same answers as x for every native system call. Notes: other architectures (x86,
x32 in Docker's archMap) are refused by stockade; names this libseccomp does not know are
dropped (runtimes built on it drop them too).
"""

from __future__ import annotations

import errno
import json
import os
import platform
import re
import tomllib
from typing import Any

from stockade.enforce import defaults
from stockade.errors import StockadeError, UsageError
from stockade.export.importers import (
    Imported,
    baseline_rest,
    profile_name,
    split_known,
    words,
)

#: Docker's default capability set (moby oci/caps/defaults.go).
DOCKER_DEFAULT_CAPS = ("CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW",
                       "SETGID", "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE",
                       "SYS_CHROOT", "KILL", "AUDIT_WRITE")
CONTAINERS_CONF = ("/etc/containers/containers.conf", "/usr/share/containers/containers.conf")
#: OCI action -> the syscall rule's action= word.
ACTIONS = {"SCMP_ACT_ALLOW": "allow", "SCMP_ACT_ERRNO": "errno", "SCMP_ACT_KILL": "kill_thread",
           "SCMP_ACT_KILL_THREAD": "kill_thread", "SCMP_ACT_KILL_PROCESS": "kill",
           "SCMP_ACT_TRAP": "trap", "SCMP_ACT_LOG": "log"}
OPS = {"SCMP_CMP_EQ": "eq", "SCMP_CMP_NE": "ne", "SCMP_CMP_LT": "lt", "SCMP_CMP_LE": "le",
       "SCMP_CMP_GT": "gt", "SCMP_CMP_GE": "ge", "SCMP_CMP_MASKED_EQ": "masked_eq"}
#: Go architecture names (Docker's includes.arches) of this machine.
GOARCH = {"x86_64": "amd64", "aarch64": "arm64"}
NATIVE_SCMP = {"x86_64": "SCMP_ARCH_X86_64", "aarch64": "SCMP_ARCH_AARCH64"}


def default_caps() -> tuple[str, ...]:
    """containers.conf's default_capabilities (Podman), else Docker's defaults."""
    for path in CONTAINERS_CONF:
        try:
            with open(path, "rb") as f:
                conf = tomllib.load(f)
        except (OSError, tomllib.TOMLDecodeError):
            continue
        caps = conf.get("containers", {}).get("default_capabilities")
        if isinstance(caps, list) and all(isinstance(c, str) for c in caps):
            return tuple(c.upper().removeprefix("CAP_") for c in caps)
    return DOCKER_DEFAULT_CAPS


def _kernel() -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", platform.release())[:2])


def applies(entry: dict[str, Any], caps: set[str], kernel: tuple[int, ...],
            goarch: str) -> bool:
    """Whether a Docker-format entry is in the profile for these caps/kernel/arch."""
    inc = entry.get("includes") or {}
    exc = entry.get("excludes") or {}
    norm = {f"CAP_{c}" for c in caps}
    if inc.get("arches") and goarch not in inc["arches"]:
        return False
    if goarch in (exc.get("arches") or []):
        return False
    if any(c not in norm for c in inc.get("caps") or []):
        return False
    if any(c in norm for c in exc.get("caps") or []):
        return False
    if inc.get("minKernel"):
        want = tuple(int(x) for x in re.findall(r"\d+", inc["minKernel"])[:2])
        if kernel < want:
            return False
    if exc.get("minKernel"):
        want = tuple(int(x) for x in re.findall(r"\d+", exc["minKernel"])[:2])
        if kernel >= want:
            return False
    return True


def _errno_text(entry: dict[str, Any], default: int) -> str:
    value = entry.get("errnoRet")
    if value is None:
        return errno.errorcode.get(default, str(default))
    return errno.errorcode.get(int(value), str(value))


def _action(entry: dict[str, Any], where: str) -> str:
    name = entry.get("action")
    if name not in ACTIONS:
        raise StockadeError(f"{where}: action {name!r} cannot be imported (stockade takes "
                            + ", ".join(sorted(ACTIONS)) + ")")
    return ACTIONS[name]


def _arg_groups(entry: dict[str, Any], where: str) -> list[list[str]]:
    """The argument conditions of an entry as rule words; several entries when one index
    appears twice (runtimes then add one rule per comparison)."""
    args = entry.get("args") or []
    conds: list[tuple[int, str]] = []
    for arg in args:
        op = OPS.get(arg.get("op", ""))
        index = arg.get("index")
        if op is None or not isinstance(index, int) or not 0 <= index <= 5:
            raise StockadeError(f"{where}: argument comparison {arg!r} cannot be imported")
        value, two = int(arg.get("value", 0)), int(arg.get("valueTwo", 0))
        text = f"{op}:{value:#x}:{two:#x}" if op == "masked_eq" else f"{op}:{value:#x}"
        conds.append((index, f"arg{index}={text}"))
    indices = [i for i, _ in conds]
    if len(set(indices)) == len(indices):
        return [[c for _, c in conds]]
    return [[c] for _, c in conds]


def convert(data: dict[str, Any], name: str, caps: tuple[str, ...],
            source: str = "") -> Imported:
    """The profile for one seccomp JSON document."""
    notes: list[str] = []
    machine = os.uname().machine
    goarch = GOARCH.get(machine, machine)
    native = NATIVE_SCMP.get(machine, "")
    arches = list(data.get("architectures") or [])
    for entry in data.get("archMap") or []:
        if entry.get("architecture") == native:
            arches = [native, *entry.get("subArchitectures", [])]
    others = [a for a in arches if a != native]
    if others:
        notes.append("narrower: " + ", ".join(others) + " system calls are refused "
                     "(stockade filters the native ABI only)")
    default_action = data.get("defaultAction", "SCMP_ACT_ALLOW")
    default_errno = int(data.get("defaultErrnoRet", errno.EPERM) or errno.EPERM)
    caps_set = {c.upper().removeprefix("CAP_") for c in caps}
    kernel = _kernel()
    lines: list[str] = ["all,"]
    if caps_set:
        lines.append("capability " + " ".join(sorted(c.lower() for c in caps_set)) + ",")
    default = _action({"action": default_action}, source or "defaultAction")
    if default != "allow":
        err = f" errno={_errno_text({'errnoRet': default_errno}, errno.EPERM)}" \
            if default == "errno" else f" action={default}"
        lines.append(f"deny syscall default{err},")
    mentioned: set[str] = set()
    dropped: set[str] = set()
    unconditional: set[str] = set()
    shadowed: set[str] = set()
    for i, entry in enumerate(data.get("syscalls") or []):
        where = f"{source or 'seccomp'}: syscalls[{i}]"
        if not applies(entry, caps_set, kernel, goarch):
            continue
        names = list(entry.get("names") or []) + ([entry["name"]] if entry.get("name") else [])
        known = split_known(names, dropped)
        action = _action(entry, where)
        if not entry.get("args"):
            # runtimes add rules in order and libseccomp keeps the first action for a call
            shadowed.update(n for n in known if n in unconditional)
            known = [n for n in known if n not in unconditional]
            unconditional.update(known)
        if not known:
            continue
        mentioned.update(known)
        if action == "errno":
            head = f"deny syscall errno={_errno_text(entry, errno.EPERM)}"
        elif action == "allow":
            head = "syscall"
        else:
            head = f"syscall action={action}"
        for conds in _arg_groups(entry, where):
            cond = (" " + " ".join(conds)) if conds else ""
            lines.append(f"{head}{cond} {words(known)},")
    if shadowed:
        notes.append("later rules for these calls are left out (the first rule for a call "
                     "decides, as in runtimes): " + ", ".join(sorted(shadowed)))
    if dropped:
        notes.append("dropped (unknown to this libseccomp, runtimes using it drop them too): "
                     + ", ".join(sorted(dropped)))
    if default != "allow":
        err = f" errno={_errno_text({'errnoRet': default_errno}, errno.EPERM)}" \
            if default == "errno" else f" action={default}"
        lines += baseline_rest(mentioned, f"deny syscall{err}")
    else:
        lifted = sorted({r.syscall for r in defaults.baseline_seccomp_rules()} & mentioned)
        if lifted:
            notes.append("the import's rules replace stockade's baseline for: "
                         + ", ".join(lifted))
    header = [f"# Imported by `stockade import --from oci-seccomp` from {source or 'stdin'}.",
              "# includes/excludes resolved for " + (goarch or machine) + ", kernel "
              + ".".join(map(str, kernel)) + ", capabilities "
              + (",".join(sorted(caps_set)) or "none") + "."]
    body = "\n".join("  " + line for line in lines)
    return Imported("\n".join(header) + f"\nprofile {name} {{\n{body}\n}}\n", notes)


def import_file(path: str, name: str | None = None, caps: tuple[str, ...] | None = None,
                **_options: object) -> Imported:
    """Import the seccomp JSON file at `path`."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except OSError as err:
        raise UsageError(f"{path}: {err.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise StockadeError(f"{path}: not JSON ({err})") from None
    if isinstance(data, dict) and "linux" in data and "seccomp" in data.get("linux", {}):
        data = data["linux"]["seccomp"]  # a whole config.json
    if not isinstance(data, dict) or not isinstance(data.get("syscalls", []), list):
        raise StockadeError(f"{path}: not a seccomp profile (no syscalls list)")
    return convert(data, name or profile_name(path), caps if caps is not None else
                   default_caps(), path)
