"""A TOMOYO policy: its four files parsed into domains, exception entries, profiles and
managers, with every bad line reported (file:line:col), not only the first.

`load_policy(DIR)` reads `domain_policy.conf`, `exception_policy.conf`, `profile.conf` and
`manager.conf` from a policy directory (as /etc/tomoyo or `init_policy policy_dir=DIR` lays
them out); `load_files([...])` takes files named by their kind.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from stockade.errors import StockadeError
from stockade.modules.tomoyo.syntax import (
    Acl,
    LineError,
    parse_domain_line,
    parse_exception_line,
)
from stockade.modules.tomoyo.words import correct_domain, correct_path, normalize_line
from stockade.policy.errors import PolicySyntaxError

T = TypeVar("T")
KERNEL = "<kernel>"
FILE_KINDS = ("domain_policy.conf", "exception_policy.conf", "profile.conf", "manager.conf")
MODES = ("disabled", "learning", "permissive", "enforcing")
PREFERENCES = ("max_audit_log", "max_learning_entry")
DEFAULT_PREFERENCE = {"max_audit_log": 1024, "max_learning_entry": 2048}
# CONFIG:: indexes: the categories and the per-operation keywords (common.c tomoyo_mac_keywords)
CATEGORIES = ("file", "network", "misc")
MAC_KEYWORDS: dict[str, str] = {
    **{k: "file" for k in ("execute", "open", "create", "unlink", "getattr", "mkdir", "rmdir",
                          "mkfifo", "mksock", "truncate", "symlink", "mkblock", "mkchar",
                          "link", "rename", "chmod", "chown", "chgrp", "ioctl", "chroot",
                          "mount", "unmount", "pivot_root")},
    **{f"{fam}_{proto}_{op}": "network" for fam, proto, op in (
        ("inet", "stream", "bind"), ("inet", "stream", "listen"), ("inet", "stream", "connect"),
        ("inet", "dgram", "bind"), ("inet", "dgram", "send"), ("inet", "raw", "bind"),
        ("inet", "raw", "send"), ("unix", "stream", "bind"), ("unix", "stream", "listen"),
        ("unix", "stream", "connect"), ("unix", "dgram", "bind"), ("unix", "dgram", "send"),
        ("unix", "seqpacket", "bind"), ("unix", "seqpacket", "listen"),
        ("unix", "seqpacket", "connect"))},
    "env": "misc",
}


@dataclass
class Domain:
    """A domain: its name, profile, ACL groups (every `use_group N`: a bitmap in the kernel
    since multiple groups were allowed), ACLs and flags."""

    name: str
    profile: int = 0
    groups: frozenset[int] = frozenset()
    acls: list[Acl] = field(default_factory=list)
    quota_exceeded: bool = False
    transition_failed: bool = False
    file: str = ""


@dataclass(frozen=True, slots=True)
class TransitionControl:
    """`[no_]{reset,initialize,keep}_domain PROGRAM from DOMAIN`: `program` "" for any,
    `domain` "" for any; `last_name` when `domain` is a program name (the domain's last
    word), not a full domain name."""

    kind: str
    program: str
    domain: str
    last_name: bool


@dataclass
class Profile:
    """One profile: its default mode and overrides per category or operation, preferences."""

    number: int
    comment: str = ""
    default: str = "disabled"
    config: dict[str, str] = field(default_factory=dict)
    grant_log: dict[str, bool] = field(default_factory=dict)
    reject_log: dict[str, bool] = field(default_factory=dict)
    preference: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PREFERENCE))

    def mode(self, index: str) -> str:
        """The mode for a MAC keyword (`open`, `execute`, `inet_stream_connect`, `env`)."""
        if index in self.config:
            return self.config[index]
        category = MAC_KEYWORDS.get(index, index)
        return self.config.get(category, self.default)

    def logs(self, index: str, granted: bool) -> bool:
        """Whether a granted (grant_log) or rejected (reject_log) request is logged."""
        table = self.grant_log if granted else self.reject_log
        category = MAC_KEYWORDS.get(index, index)
        for key in (index, category, ""):
            if key in table:
                return table[key]
        return not granted


@dataclass
class Policy:
    """A whole TOMOYO policy."""

    domains: dict[str, Domain] = field(default_factory=dict)
    path_groups: dict[str, list[str]] = field(default_factory=dict)
    number_groups: dict[str, list[str]] = field(default_factory=dict)
    address_groups: dict[str, list[str]] = field(default_factory=dict)
    acl_groups: dict[int, list[Acl]] = field(default_factory=dict)
    aggregators: list[tuple[str, str]] = field(default_factory=list)
    transitions: list[TransitionControl] = field(default_factory=list)
    profiles: dict[int, Profile] = field(default_factory=dict)
    managers: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    errors: list[PolicySyntaxError] = field(default_factory=list)
    # the file-name index of each ACL list find_acl searched (acl.py:_file_index), by id
    acl_index: dict[int, tuple[list[Acl], int, dict[str, list[int]]]] = field(
        default_factory=dict, repr=False, compare=False)

    def domain(self, name: str) -> Domain | None:
        """The domain named `name`, or None."""
        return self.domains.get(name)

    def group_acls(self, domain: Domain) -> list[Acl]:
        """The ACLs of the domain's ACL groups, in group order (after its own ACLs)."""
        return [acl for group in sorted(domain.groups) for acl in self.acl_groups.get(group, ())]

    def profile(self, number: int) -> Profile | None:
        """Profile `number`, or None when profile.conf does not define it."""
        return self.profiles.get(number)


def _error(errors: list[PolicySyntaxError], file: str, lineno: int, raw: str,
           err: LineError) -> None:
    norm = normalize_line(raw)
    words = norm.split(" ")
    col = 1
    if 0 <= err.word < len(words):
        target = words[err.word]
        before = " ".join(words[:err.word])
        start = raw.find(target, raw.find(before) + len(before) if before else 0)
        col = start + 1 if start >= 0 else 1
    errors.append(PolicySyntaxError(err.message, file, lineno, col, raw))


def _parsed_lines(text: str, parse: Callable[[str, int], T | None], file: str,
                  errors: list[PolicySyntaxError]) -> Iterator[T]:
    """Each line of `text` parsed (blanks and comments skipped); a bad line is recorded in
    `errors` and skipped, so that every bad line is reported."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        try:
            parsed = parse(normalize_line(raw), lineno)
        except LineError as err:
            _error(errors, file, lineno, raw, err)
            continue
        if parsed is not None:
            yield parsed


def parse_domain_policy(text: str, policy: Policy, file: str = "domain_policy.conf") -> None:
    """Add the domains of a domain_policy.conf text to `policy`."""
    current: Domain | None = None
    for parsed in _parsed_lines(text, parse_domain_line, file, policy.errors):
        if parsed.kind == "domain":
            current = policy.domains.setdefault(parsed.value, Domain(parsed.value, file=file))
            continue
        if current is None:  # the kernel has no domain to add it to: ignored, as it does
            continue
        if parsed.kind == "use_profile":
            current.profile = parsed.number
        elif parsed.kind == "use_group":
            current.groups = current.groups | {parsed.number}
        elif parsed.kind == "flag":
            setattr(current, parsed.value, True)
        elif parsed.acl is not None:
            current.acls.append(replace(parsed.acl, file=file))


def parse_exception_policy(text: str, policy: Policy,
                           file: str = "exception_policy.conf") -> None:
    """Add the entries of an exception_policy.conf text to `policy`."""
    groups = {"path_group": policy.path_groups, "number_group": policy.number_groups,
              "address_group": policy.address_groups}
    for parsed in _parsed_lines(text, parse_exception_line, file, policy.errors):
        if parsed.namespace != KERNEL:  # only the <kernel> namespace is modelled
            continue
        key = parsed.keyword
        if key in groups:
            groups[key].setdefault(parsed.args[0], []).append(parsed.args[1])
        elif key == "acl_group" and parsed.acl is not None:
            policy.acl_groups.setdefault(parsed.number, []).append(replace(parsed.acl,
                                                                           file=file))
        elif key == "aggregator":
            policy.aggregators.append((parsed.args[0], parsed.args[1]))
        else:
            program, source = parsed.args
            kind = key.removesuffix("_domain")
            if kind in ("keep", "no_keep") and source == "" and program:
                # `keep_domain X` without `from`: X names the domain, not the program
                program, source = "", program
            last = bool(source) and not source.startswith("<")
            policy.transitions.append(TransitionControl(kind, program, source, last))


def _config_value(text: str, lineno: int, file: str, raw: str,
                  errors: list[PolicySyntaxError]) -> dict[str, str]:
    body = text.strip()
    if not (body.startswith("{") and body.endswith("}")):
        errors.append(PolicySyntaxError("expected { key=value ... }", file, lineno, 1, raw))
        return {}
    values: dict[str, str] = {}
    for word in body[1:-1].split():
        key, sep, value = word.partition("=")
        if not sep:
            errors.append(PolicySyntaxError(f"expected key=value, not {word!r}", file, lineno,
                                            raw.find(word) + 1, raw))
            continue
        values[key] = value
    return values


def parse_profiles(text: str, policy: Policy, file: str = "profile.conf") -> None:
    """Add the profiles of a profile.conf text: `N-COMMENT=`, `N-PREFERENCE={ ... }`,
    `N-CONFIG={ mode=... grant_log=... reject_log=... }`, `N-CONFIG::file[::op]={ ... }`."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if key == "PROFILE_VERSION":
            if value not in ("20150505", "20110903", "20100903"):
                policy.errors.append(PolicySyntaxError(f"unknown PROFILE_VERSION {value!r}",
                                                       file, lineno, len(key) + 2, raw))
            continue
        number_text, dash, name = key.partition("-")
        if not sep or not dash or not number_text.isdigit() or int(number_text) > 255:
            policy.errors.append(PolicySyntaxError(
                "expected N-COMMENT=, N-PREFERENCE={...} or N-CONFIG[::...]={...}", file,
                lineno, 1, raw))
            continue
        prof = policy.profiles.setdefault(int(number_text), Profile(int(number_text)))
        if name == "COMMENT":
            prof.comment = value
            continue
        values = _config_value(value, lineno, file, raw, policy.errors)
        if name == "PREFERENCE":
            for pref, amount in values.items():
                if pref not in PREFERENCES or not amount.isdigit():
                    policy.errors.append(PolicySyntaxError(
                        f"bad preference {pref}={amount}", file, lineno, raw.find(pref) + 1,
                        raw))
                    continue
                prof.preference[pref] = int(amount)
            continue
        if name != "CONFIG" and not name.startswith("CONFIG::"):
            policy.errors.append(PolicySyntaxError(f"unknown profile key {name!r}", file,
                                                   lineno, len(number_text) + 2, raw))
            continue
        index = name.removeprefix("CONFIG").removeprefix("::").rpartition("::")[2]
        if index and index not in MAC_KEYWORDS and index not in CATEGORIES:
            policy.errors.append(PolicySyntaxError(f"unknown CONFIG index {index!r}", file,
                                                   lineno, raw.find(index) + 1, raw))
            continue
        _apply_config(prof, index, values, lineno, file, raw, policy.errors)


def _apply_config(prof: Profile, index: str, values: dict[str, str], lineno: int, file: str,
                  raw: str, errors: list[PolicySyntaxError]) -> None:
    for key, value in values.items():
        if key == "mode":
            if value not in MODES:
                errors.append(PolicySyntaxError(f"unknown mode {value!r} (one of "
                                                f"{', '.join(MODES)})", file, lineno,
                                                raw.find(value) + 1, raw))
            elif index:
                prof.config[index] = value
            else:
                prof.default = value
        elif key in ("grant_log", "reject_log") and value in ("yes", "no"):
            table = prof.grant_log if key == "grant_log" else prof.reject_log
            table[index] = value == "yes"
        else:
            errors.append(PolicySyntaxError(f"bad CONFIG setting {key}={value}", file, lineno,
                                            raw.find(key) + 1, raw))


def parse_managers(text: str, policy: Policy, file: str = "manager.conf") -> None:
    """manager.conf: one program name or domain name per line."""
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = normalize_line(raw)
        if not line or line.startswith("#"):
            continue
        if not (correct_path(line) or correct_domain(line)):
            policy.errors.append(PolicySyntaxError(f"'{line}' is not a program or domain name",
                                                   file, lineno, 1, raw))
            continue
        policy.managers.append(line)


_PARSERS = {"domain_policy.conf": parse_domain_policy,
            "exception_policy.conf": parse_exception_policy,
            "profile.conf": parse_profiles, "manager.conf": parse_managers}


def kind_of(path: str) -> str:
    """The kind of a policy file by its name (`domain_policy.conf`, ...)."""
    name = os.path.basename(path)
    if name in FILE_KINDS:
        return name
    raise StockadeError(f"{path}: not a TOMOYO policy file (expected one of "
                        f"{', '.join(FILE_KINDS)})")


def policy_files(paths: Iterable[str]) -> list[str]:
    """Each directory's policy files that exist, and each file named by its kind."""
    out: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found = [os.path.join(path, k) for k in FILE_KINDS
                     if os.path.isfile(os.path.join(path, k))]
            if not found:
                raise StockadeError(f"{path}: no TOMOYO policy files in this directory")
            out.extend(found)
        else:
            kind_of(path)
            out.append(path)
    return out


def load_files(paths: Sequence[str]) -> Policy:
    """Parse policy files and directories into one Policy (errors collected, not raised)."""
    policy = Policy()
    for path in policy_files(paths):
        try:
            with open(path, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
        except OSError as err:
            raise StockadeError(f"{path}: {err.strerror}") from None
        policy.files.append(path)
        _PARSERS[kind_of(path)](text, policy, path)
    return policy


def load_policy(policy_dir: str) -> Policy:
    """The policy in `policy_dir`; a StockadeError names the first bad line."""
    if not os.path.isdir(policy_dir):
        raise StockadeError(f"{policy_dir}: not a TOMOYO policy directory")
    policy = load_files([policy_dir])
    if policy.errors:
        first = policy.errors[0]
        more = f" (and {len(policy.errors) - 1} more)" if len(policy.errors) > 1 else ""
        raise StockadeError(f"{first}{more}")
    policy.domains.setdefault(KERNEL, Domain(KERNEL))
    return policy
