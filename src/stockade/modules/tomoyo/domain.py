"""Domain transitions on exec, as security/tomoyo/domain.c computes them.

1. The program's name (the path as given, directories resolved, the last component not
   followed) is replaced by the first `aggregator` whose pattern matches it.
2. `file execute` is checked in the old domain; when an ACL grants it, its pattern (or the
   path_group member) becomes the candidate, so domain names may hold wildcards.
3. The transition controls are scanned in the kernel's order: `no_reset_domain` (skips
   reset), `reset_domain`, `no_initialize_domain` (skips initialize), `initialize_domain`,
   `no_keep_domain`, `keep_domain`; each with `from DOMAIN` (the whole name), `from /prog`
   (the domain's last word) or any; programs compare as strings.
4. reset → `<candidate>` (the root of a namespace named by the program; a failure rejects
   the exec), initialize → `<namespace> candidate`, keep → the old domain, otherwise
   `old candidate`.
   An ACL's transition preference (`file execute PATH keep|child|reset|initialize|parent|
   <domain>|/name`) replaces steps 3-4, and failing to enter its domain fails the exec.
5. A missing domain is created, inheriting use_profile and use_group, unless it lies in
   another namespace; when it cannot be, the exec fails in enforcing mode or when it was
   asked for (reset), else the task stays and the old domain is marked transition_failed.
"""

from __future__ import annotations

from dataclasses import dataclass

from stockade.modules.tomoyo.match import path_matches_pattern
from stockade.modules.tomoyo.policy import Domain, Policy
from stockade.modules.tomoyo.words import MAX_DOMAINNAME_LEN, correct_domain

# at most this many domains (policy and created): the kernel's memory quota, made a count
MAX_DOMAINS = 65536
# the kernel's enum tomoyo_transition_type order
ORDER = ("no_reset", "reset", "no_initialize", "initialize", "no_keep", "keep")


def namespace(domain: str) -> str:
    """`<kernel>` of `<kernel> /sbin/init /bin/sh`."""
    return domain.split(" ", 1)[0]


def last_word(domain: str) -> str:
    """The domain's last word (its program, or its namespace for a root)."""
    return domain.rsplit(" ", 1)[-1]


def aggregate(policy: Policy, exename: str) -> str:
    """The aggregated name of `exename` (the first matching `aggregator`), else itself."""
    for original, aggregated in policy.aggregators:
        if path_matches_pattern(exename, original):
            return aggregated
    return exename


def _scan(policy: Policy, domain: str, program: str, kind: str) -> bool:
    last = last_word(domain)
    for ctl in policy.transitions:
        if ctl.kind != kind:
            continue
        if ctl.domain and (ctl.domain != last if ctl.last_name else ctl.domain != domain):
            continue
        if ctl.program and ctl.program != program:
            continue
        return True
    return False


def transition_type(policy: Policy, domain: str, program: str) -> str:
    """`reset`, `initialize`, `keep`, or `` (a normal transition; `no_keep` is one too)."""
    i = 0
    while i < len(ORDER):
        kind = ORDER[i]
        if not _scan(policy, domain, program, kind):
            i += 1
            continue
        if kind not in ("no_reset", "no_initialize"):
            return "" if kind == "no_keep" else kind
        i += 2  # a no_X match skips X
    return ""


@dataclass(frozen=True, slots=True)
class Transition:
    """Where an exec leads: the new domain name, how (reset, initialize, keep, child), and
    whether a failure to enter it must fail the exec."""

    domain: str
    how: str
    reject_on_failure: bool


def next_domain(policy: Policy, old: str, candidate: str) -> Transition:
    """The domain an exec of `candidate` from `old` enters (not yet created)."""
    how = transition_type(policy, old, candidate)
    if how == "reset":
        return Transition(f"<{candidate}>", how, True)
    if how == "initialize":
        return Transition(f"{namespace(old)} {candidate}", how, False)
    if how == "keep":
        return Transition(old, how, False)
    return Transition(f"{old} {candidate}", "child", False)


def preferred_domain(old: str, candidate: str, transit: str) -> Transition:
    """The domain an `file execute PATH PREFERENCE` ACL asks for: keep, child, reset,
    initialize, parent, a domain name, or a name appended to the old domain; failing to
    enter it fails the exec."""
    if transit == "keep":
        return Transition(old, "keep", True)
    if transit == "child":
        return Transition(f"{old} {candidate}", "child", True)
    if transit == "reset":
        return Transition(f"<{candidate}>", "reset", True)
    if transit == "initialize":
        return Transition(f"{namespace(old)} {candidate}", "initialize", True)
    if transit == "parent":
        return Transition(old.rsplit(" ", 1)[0], "parent", True)
    if transit.startswith("<"):
        return Transition(transit, "jump", True)
    return Transition(f"{old} {transit}", "jump", True)


def assign_domain(policy: Policy, name: str, current: Domain) -> Domain | None:
    """tomoyo_assign_domain(name, transit=true): the domain, created (inheriting profile and
    group) when missing; None when it cannot be (a bad name, another namespace, or the
    MAX_DOMAINS bound reached)."""
    found = policy.domains.get(name)
    if found is not None:
        return found if found.profile in policy.profiles else None
    if len(name) >= MAX_DOMAINNAME_LEN or not correct_domain(name):
        return None
    if namespace(name) != namespace(current.name) or len(policy.domains) >= MAX_DOMAINS:
        return None
    created = Domain(name, profile=current.profile, groups=current.groups, file="<created>")
    policy.domains[name] = created
    return created
