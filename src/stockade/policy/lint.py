"""Warnings about risky but valid policy: W+X paths, unconfined exec, broad writes,
dangerous capabilities and inherit-exec of programs that can escape to a shell (not of the
profile's own program: `learn` writes its `ix`, and it runs under the profile anyway)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources

import re2

from stockade.policy.aare import Pattern, fold_slashes, query_bytes
from stockade.policy.aare import parse as parse_aare
from stockade.policy.ast import Rule
from stockade.policy.compiler import CompiledProfile
from stockade.policy.intersect import intersects
from stockade.policy.matcher import FileEntry
from stockade.policy.modes import UNCONFINED_EXEC_MODES, Perm

#: Capabilities that amount to root or to leaving the sandbox.
DANGEROUS_CAPABILITIES: dict[str, str] = {
    "sys_admin": "near-root: mount, namespaces, bpf, many device ioctls",
    "sys_module": "loads kernel modules: full kernel code execution",
    "sys_ptrace": "traces any process: reads and rewrites other programs' memory",
    "dac_override": "bypasses file permission checks (read/write any file)",
    "dac_read_search": "bypasses read permission checks (read any file)",
    "sys_rawio": "raw device and port I/O",
    "mac_admin": "changes the MAC policy itself",
    "mac_override": "bypasses the MAC policy",
    "bpf": "loads BPF programs",
}

#: Paths a broad write rule would reach; matching several of them means "almost anywhere".
_BROAD_PROBES = (
    "/etc/passwd", "/usr/bin/sudo", "/var/lib/dpkg/status", "/root/.bashrc",
    "/boot/vmlinuz", "/home/user/.ssh/authorized_keys", "/srv/www/index.html",
)
_BIN_DIRS = "/{,usr/}{,local/}{bin,sbin}/"


@dataclass(frozen=True)
class LintWarning:
    """One warning: a short code, the message, and the rule (profile, position, text)."""

    code: str
    message: str
    profile: str
    file: str
    line: int
    col: int
    rule: str = ""

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: warning: {self.message} [{self.code}]"

    def to_dict(self) -> dict[str, object]:
        """The JSON shape used by `stockade check --json`."""
        return {"code": self.code, "message": self.message, "profile": self.profile,
                "file": self.file, "line": self.line, "col": self.col, "rule": self.rule}


@cache
def shell_escape_programs() -> tuple[str, ...]:
    """Program names (globs) from data/policy/shell_escape_programs.txt."""
    text = resources.files("stockade").joinpath(
        "data/policy/shell_escape_programs.txt").read_text(encoding="utf-8")
    return tuple(ln.strip() for ln in text.splitlines()
                 if ln.strip() and not ln.lstrip().startswith("#"))


@cache
def _escape_patterns() -> tuple[Pattern, tuple[tuple[str, Pattern], ...]]:
    names = shell_escape_programs()
    combined = parse_aare(_BIN_DIRS + "{" + ",".join(names) + "}")
    return combined, tuple((n, parse_aare(_BIN_DIRS + n)) for n in names)


@lru_cache(maxsize=1024)  # broad probes of writable patterns
def _regex(regex: str) -> re2._Regexp:
    opts = re2.Options()
    opts.encoding = re2.Options.Encoding.LATIN1
    opts.log_errors = False
    return re2.compile(regex.encode("latin-1"), opts)


def broad_hits(pattern: Pattern, least: int = 3) -> int:
    """How many of the broad probe paths `pattern` matches; 0 when fewer than `least` could
    (a match starts with the pattern's literal prefix, slashes folded: a profile of 100,000
    rules compiled 25,000 regexes here only to find none broad)."""
    lead = fold_slashes(pattern.literal_prefix)
    candidates = [p for p in _BROAD_PROBES if p.startswith(lead)]
    if len(candidates) < least:
        return 0
    probe = _regex(pattern.regex)
    return sum(1 for p in candidates if probe.fullmatch(query_bytes(p)))


def _warn(code: str, message: str, prof: CompiledProfile, rule: Rule) -> LintWarning:
    return LintWarning(code=code, message=message, profile=prof.name, file=rule.pos.file,
                       line=rule.pos.line, col=rule.pos.col, rule=rule.text.strip())


def _shown(e: FileEntry) -> str:
    return fold_slashes(e.pattern.text)


def _writes(e: FileEntry) -> bool:
    return not e.deny and bool(e.perms & (Perm.WRITE | Perm.APPEND))


def _execs(e: FileEntry) -> bool:
    return not e.deny and bool(e.perms & Perm.EXEC)


def _lint_one(prof: CompiledProfile) -> list[LintWarning]:
    out: list[LintWarning] = []
    entries = prof.file_entries
    writes = [e for e in entries if _writes(e)]
    for x in (e for e in entries if _execs(e)):
        if _writes(x):
            out.append(_warn("write-exec", f"'{_shown(x)}' is both writable and executable: "
                             "code injection", prof, x.rule))
            continue
        for w in writes:
            if intersects(w.pattern, x.pattern):
                out.append(_warn(
                    "write-exec",
                    f"'{_shown(x)}' is executable and overlaps writable '{_shown(w)}' "
                    f"({w.rule.pos.file}:{w.rule.pos.line}): code injection", prof, x.rule))
                break
    for e in entries:
        if e.exec_mode in UNCONFINED_EXEC_MODES:
            how = "runs" if e.exec_mode in ("ux", "Ux") else "may fall back to running"
            out.append(_warn("unconfined-exec", f"'{_shown(e)}' {e.exec_mode}: {how} the "
                             "program unconfined", prof, e.rule))
        if _writes(e):
            hits = broad_hits(e.pattern)
            if hits >= 3:
                out.append(_warn("broad-write", f"'{_shown(e)}' grants write to most of the "
                                 f"filesystem ({hits} of {len(_BROAD_PROBES)} probe paths)",
                                 prof, e.rule))
        # the profile's own program running itself again gains nothing: learn writes that rule
        if e.exec_mode == "ix" and not e.deny and not (
                e.pattern.exact and e.pattern.text == prof.attachment):
            combined, each = _escape_patterns()
            if intersects(e.pattern, combined):
                name = next((n for n, p in each if intersects(e.pattern, p)), "?")
                out.append(_warn("inherit-escape", f"'{_shown(e)}' ix covers '{name}', which "
                                 "can run a shell or read any file with this profile's rights",
                                 prof, e.rule))
    caps = prof.capabilities.effective
    for rule in prof.rules_of("capability"):
        if rule.qualifiers.deny:
            continue
        names = rule.names or tuple(DANGEROUS_CAPABILITIES)
        for name in names:
            if name in DANGEROUS_CAPABILITIES and name in caps:
                shown = "capability (all)" if not rule.names else f"capability {name}"
                out.append(_warn("dangerous-capability", f"{shown}: "
                                 f"{DANGEROUS_CAPABILITIES[name]}", prof, rule))
                if not rule.names:
                    break
    return out


def lint(compiled: CompiledProfile | Iterable[CompiledProfile]) -> list[LintWarning]:
    """Warnings for a compiled profile (and its hats and children) or a list of them."""
    profs = [compiled] if isinstance(compiled, CompiledProfile) else list(compiled)
    out: list[LintWarning] = []
    for top in profs:
        for prof in top.walk():
            out.extend(_lint_one(prof))
    return out
