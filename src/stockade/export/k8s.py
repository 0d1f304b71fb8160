"""`k8s`: resources of the Kubernetes Security Profiles Operator (SPO), as one YAML stream.

* `SeccompProfile` (security-profiles-operator.x-k8s.io/v1): its spec is the `oci-seccomp`
  export (`oci_seccomp(plan)`) field for field, except `defaultErrnoRet`, which the CRD has
  no field for (the runtime then answers EPERM: a loss unless the plan's default is EPERM).
* `AppArmorProfile` (v1alpha1): the operator's CRD takes no profile text, only an "abstract"
  allow list that it expands with its own template (abstractions/base, `PATH ixr` for
  executables, `PATH mr` for libraries, `PATH r` + `deny PATH wlk` for read-only paths,
  `PATH wlk` + `deny PATH r` for write-only ones, `PATH rwlk`, `network tcp|udp|raw`,
  `capability X`, and a fixed deny list). The profile's allow rules are sorted into those
  lists; every rule the abstract cannot say is reported lost. For the full profile on
  AppArmor nodes use the `apparmor` export (docs/fleet.md).
* `RawSelinuxProfile` (v1) for each CIL policy given with `--cil` (the selinux module's
  policy files): the CIL text as `spec.policy`.

Names: `metadata.name` is the profile name made a DNS-1123 subdomain (SPO names the node
profile after it: pods use `localhost/NAME`).
"""

from __future__ import annotations

import errno
import re
from typing import Any

import yaml

from stockade.enforce.plan.types import CoverageStatus
from stockade.errors import StockadeError
from stockade.export import ExportInput, ExportResult, Losses, register
from stockade.export.apparmor_text import path_text
from stockade.export.oci_seccomp import oci_seccomp
from stockade.policy import CompiledProfile, Perm, ast, compile_profiles
from stockade.policy.intersect import intersects

TARGET = "k8s"
GROUP = "security-profiles-operator.x-k8s.io"
#: Rules from these files need no translation: the operator's template includes them.
TEMPLATE_ABSTRACTIONS = ("abstractions/base",)
_TCP = frozenset({"stream", "tcp"})
_UDP = frozenset({"dgram", "udp"})
_INET = frozenset({None, "inet", "inet6"})


def k8s_name(name: str) -> str:
    """A DNS-1123 subdomain from a profile name: `/usr/bin/man` -> `usr-bin-man`."""
    out = re.sub(r"[^a-z0-9.-]+", "-", name.lower()).strip("-.")
    out = re.sub(r"-{2,}", "-", out)[:253].strip("-.")
    if not out:
        raise StockadeError(f"profile name {name!r} has nothing a Kubernetes name can use")
    return out


def _resource(kind: str, version: str, name: str, spec: dict[str, Any],
              source: str) -> dict[str, Any]:
    return {"apiVersion": f"{GROUP}/{version}", "kind": kind,
            "metadata": {"name": name,
                         "annotations": {"stockade/source": source} if source else {}},
            "spec": spec}


def seccomp_profile(inp: ExportInput, name: str, losses: Losses) -> dict[str, Any]:
    """The SeccompProfile resource; its spec is the oci-seccomp object minus defaultErrnoRet."""
    spec = oci_seccomp(inp.planned.plan, losses)
    default_errno = spec.pop("defaultErrnoRet", None)
    if default_errno is not None and default_errno != errno.EPERM:
        losses.add(f"refuse every other system call with errno {default_errno}",
                   CoverageStatus.APPROXIMATED, "SeccompProfile has no defaultErrnoRet: the "
                   "runtime answers EPERM instead", enforced_by="the oci-seccomp format")
    return _resource("SeccompProfile", "v1", name, spec, inp.path)


def template_profile(include_dirs: tuple[str, ...]) -> CompiledProfile:
    """The operator template's own includes (abstractions/base and what it includes), as
    compiled here: their rules need no translation, their grants count as the target's."""
    text = "".join(f"include <{a}>\n" for a in TEMPLATE_ABSTRACTIONS)
    (prof,) = compile_profiles(f"include <tunables/global>\nprofile spo-template {{\n{text}}}\n",
                               include_dirs)
    return prof


def _deny_still_holds(rule: ast.FileRule, profile: CompiledProfile, listed: set[int],
                      template: CompiledProfile) -> bool:
    """A deny rule survives when nothing the target grants (listed rules, the template)
    matches any path it denies: the operator's profile denies by default."""
    mine = [e for e in profile.file_entries if e.rule is rule]
    grants = [e.pattern for e in template.file_entries if not e.deny]
    grants += [e.pattern for e in profile.file_entries if id(e.rule) in listed]
    return bool(mine) and not any(intersects(m.pattern, g) for m in mine for g in grants)


def _lost(losses: Losses, rule: ast.Rule, detail: str,
          status: CoverageStatus = CoverageStatus.NOT_ENFORCED) -> None:
    losses.add(rule.text.strip() or rule.kind, status, f"AppArmorProfile: {detail}",
               source=str(rule.pos), enforced_by="the apparmor format (the whole profile)")


def _file_lists(rule: ast.FileRule, lists: dict[str, list[str]], losses: Losses) -> bool:
    """Put an allow rule's path in its list; False when no list can take it."""
    q, perms, path = rule.qualifiers, rule.perms, path_text(rule.path)
    if q.owner or q.other:
        _lost(losses, rule, "owner/other is dropped: wider", CoverageStatus.APPROXIMATED)
    if perms & Perm.EXEC:
        lists["allowedExecutables"].append(path)
        if rule.exec_mode not in ("ix",):
            _lost(losses, rule, f"exec mode {rule.exec_mode} becomes ix (no transition)",
                  CoverageStatus.APPROXIMATED)
        return True
    if perms & Perm.MMAP:
        lists["allowedLibraries"].append(path)
        if perms & (Perm.WRITE | Perm.APPEND):
            _lost(losses, rule, "written as a library (mr): the write is dropped",
                  CoverageStatus.APPROXIMATED)
        return True
    read, write = bool(perms & Perm.READ), bool(perms & (Perm.WRITE | Perm.APPEND))
    if read and write:
        lists["readWritePaths"].append(path)
    elif read:
        lists["readOnlyPaths"].append(path)
    elif write:
        lists["writeOnlyPaths"].append(path)
    else:
        _lost(losses, rule, "no list for link or lock alone")
        return False
    granted = perms & ~Perm.EXEC
    if granted != {(True, True): Perm.READ | Perm.WRITE | Perm.APPEND | Perm.LINK | Perm.LOCK,
                   (True, False): Perm.READ,
                   (False, True): Perm.WRITE | Perm.APPEND | Perm.LINK | Perm.LOCK}[read, write]:
        _lost(losses, rule, "the operator grants its list's fixed rights (r, wlk or rwlk)",
              CoverageStatus.APPROXIMATED)
    return True


def _network(rule: ast.NetworkRule, net: dict[str, bool], losses: Losses) -> None:
    if rule.qualifiers.deny:
        _lost(losses, rule, "the abstract has no deny rules")
        return
    kinds = {rule.sock_type, rule.protocol} - {None}
    if rule.family not in _INET or rule.access or rule.conds or rule.peer:
        _lost(losses, rule, "only tcp, udp and raw network rules can be listed")
        return
    if not kinds:
        net.update(allowTcp=True, allowUdp=True, allowRaw=True)
        if rule.family is not None:
            _lost(losses, rule, "every family's tcp/udp/raw is allowed: wider",
                  CoverageStatus.APPROXIMATED)
        return
    net["allowTcp"] |= bool(kinds & _TCP)
    net["allowUdp"] |= bool(kinds & _UDP)
    net["allowRaw"] |= "raw" in kinds
    if kinds - _TCP - _UDP - {"raw"} or rule.family is not None:
        _lost(losses, rule, "written as network tcp/udp/raw for every family: wider",
              CoverageStatus.APPROXIMATED)


def apparmor_abstract(profile: CompiledProfile, losses: Losses,
                      include_dirs: tuple[str, ...] = ()) -> dict[str, Any]:
    """The `spec.abstract` of an AppArmorProfile from the profile's allow rules."""
    lists: dict[str, list[str]] = {k: [] for k in (
        "allowedExecutables", "allowedLibraries", "readOnlyPaths", "writeOnlyPaths",
        "readWritePaths")}
    net = {"allowTcp": False, "allowUdp": False, "allowRaw": False}
    template = template_profile(include_dirs)
    skip = {r.pos for r in template.rules}
    listed: set[int] = set()
    denies: list[ast.FileRule] = []
    for rule in profile.rules:
        if rule.pos in skip:
            continue
        if isinstance(rule, ast.FileRule) and rule.qualifiers.deny:
            denies.append(rule)
        elif isinstance(rule, ast.FileRule):
            if _file_lists(rule, lists, losses):
                listed.add(id(rule))
        elif isinstance(rule, ast.NetworkRule):
            _network(rule, net, losses)
        elif not isinstance(rule, ast.CapabilityRule):  # capabilities: the effective set
            _lost(losses, rule, f"the abstract has no {rule.kind} rules")
    for rule in denies:
        if not _deny_still_holds(rule, profile, listed, template):
            _lost(losses, rule, "the abstract has no deny rules, and a listed path or the "
                  "template matches paths this denies (whatever the rights)")
    for child in profile.children:
        losses.add(f"{'hat' if child.is_hat else 'profile'} {child.local_name}",
                   CoverageStatus.NOT_ENFORCED, "AppArmorProfile: no child profiles or hats",
                   source=str(child.pos), enforced_by="the apparmor format")
    if lists["readOnlyPaths"] or lists["writeOnlyPaths"]:
        losses.add("read-only and write-only paths", CoverageStatus.APPROXIMATED,
                   "AppArmorProfile: the operator adds `deny PATH wlk` (read-only) and "
                   "`deny PATH r` (write-only), which override grants of other rules there")
    caps = sorted(c for c in profile.capabilities.effective)

    def unique(items: list[str]) -> list[str]:
        return list(dict.fromkeys(items))

    abstract: dict[str, Any] = {}
    if lists["allowedExecutables"] or lists["allowedLibraries"]:
        abstract["executable"] = {k: unique(lists[k]) for k in
                                  ("allowedExecutables", "allowedLibraries") if lists[k]}
    fs = {k: unique(lists[k]) for k in ("readOnlyPaths", "writeOnlyPaths", "readWritePaths")
          if lists[k]}
    if fs:
        abstract["filesystem"] = fs
    if any(net.values()):
        abstract["network"] = {"allowRaw": net["allowRaw"],
                               "allowedProtocols": {"allowTcp": net["allowTcp"],
                                                    "allowUdp": net["allowUdp"]}}
    if caps:
        abstract["capability"] = {"allowedCapabilities": caps}
    return abstract


def apparmor_profile(inp: ExportInput, name: str, losses: Losses) -> dict[str, Any]:
    """The AppArmorProfile resource (spec.abstract, complainMode)."""
    profile = inp.profile
    spec: dict[str, Any] = {"abstract": apparmor_abstract(profile, losses, inp.include_dirs)}
    if profile.mode == "complain":
        spec["complainMode"] = True
    elif profile.mode not in ("enforce",):
        losses.add(f"flags=({','.join(profile.flags)})", CoverageStatus.NOT_ENFORCED,
                   f"AppArmorProfile: only enforce and complain, not {profile.mode}")
    return _resource("AppArmorProfile", "v1alpha1", name, spec, inp.path)


def raw_selinux_profile(path: str, name: str) -> dict[str, Any]:
    """A RawSelinuxProfile carrying the CIL policy at `path`."""
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as err:
        raise StockadeError(f"--cil {path}: {err.strerror}") from None
    if not text.strip():
        raise StockadeError(f"--cil {path}: empty policy")
    return _resource("RawSelinuxProfile", "v1", name, {"policy": text}, path)


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (CIL policies) as literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def k8s_documents(inp: ExportInput, cil: tuple[str, ...] = ()) -> tuple[list[dict[str, Any]],
                                                                          Losses]:
    """The SPO resources of `inp` and what they lose."""
    losses = Losses(TARGET)
    name = k8s_name(inp.profile.name)
    docs = [seccomp_profile(inp, name, losses)]
    docs.append(apparmor_profile(inp, name, losses))
    for i, path in enumerate(cil):
        docs.append(raw_selinux_profile(path, name if len(cil) == 1 else f"{name}-{i + 1}"))
    return docs, losses


@register(TARGET, "Security Profiles Operator resources: SeccompProfile, AppArmorProfile and, "
          "with --cil, RawSelinuxProfile (one YAML stream)")
def export_k8s(inp: ExportInput) -> ExportResult:
    """Format `k8s`: the resources as a YAML stream."""
    docs, losses = k8s_documents(inp, inp.cil)
    text = yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, default_flow_style=False,
                         explicit_start=True, allow_unicode=True)
    return ExportResult(text, losses.entries, own_proc_carried=True)
