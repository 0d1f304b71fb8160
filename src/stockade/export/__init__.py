"""Translations of a profile's enforcement plan for the engines fleets already run.

One registry maps a format name to an exporter. An exporter takes an `ExportInput` (the
compiled profile, its `ProfilePlan` — the very plan `stockade run` enforces — and where the
profile came from) and returns an `ExportResult`: the text to write and `lost`, one
`CoverageEntry` per plan rule the target cannot express exactly (status approximated,
supervisor or not-enforced; `enforced_by` names what would enforce it). Formats register
themselves with `@register(name, help)`; `exporter(name)` imports the built-in ones lazily.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from stockade.enforce.plan.profile import ProfilePlan
from stockade.enforce.plan.types import CoverageEntry, CoverageReport, CoverageStatus
from stockade.errors import UsageError
from stockade.policy import CompiledProfile

#: Built-in format -> module that registers it (imported on first use).
BUILTIN_FORMATS: dict[str, str] = {
    "oci-seccomp": "stockade.export.oci_seccomp",
    "oci": "stockade.export.oci",
    "systemd": "stockade.export.systemd",
    "k8s": "stockade.export.k8s",
    "apparmor": "stockade.export.apparmor_text",
}


@dataclass(frozen=True)
class ExportInput:
    """What an exporter works from: one compiled profile and its enforcement plan."""

    profile: CompiledProfile
    planned: ProfilePlan
    path: str = ""
    include_dirs: tuple[str, ...] = ()
    #: SELinux CIL policy files to carry along (`--cil`, format k8s).
    cil: tuple[str, ...] = ()


@dataclass
class ExportResult:
    """The exported text and what the target loses, per rule."""

    text: str
    lost: list[CoverageEntry] = field(default_factory=list)
    #: False when the target enforces the profile itself (apparmor), not stockade's plan:
    #: the plan's own approximations are then no loss.
    from_plan: bool = True
    #: True when the target names every pid's /proc/PID itself (k8s's AppArmorProfile lists
    #: `@{PROC}/@{pid}/...` paths, which AppArmor matches for any pid): own-/proc rules are
    #: then no loss.
    own_proc_carried: bool = False


Exporter = Callable[[ExportInput], ExportResult]


@dataclass(frozen=True)
class Format:
    """A registered export format."""

    name: str
    help: str
    run: Exporter


_FORMATS: dict[str, Format] = {}


def register(name: str, help: str) -> Callable[[Exporter], Exporter]:
    """Decorator: make `fn` the exporter of format `name`."""

    def deco(fn: Exporter) -> Exporter:
        _FORMATS[name] = Format(name, help, fn)
        return fn

    return deco


def format_names() -> list[str]:
    """Every format name `stockade export --format` accepts."""
    return sorted(set(BUILTIN_FORMATS) | set(_FORMATS))


def exporter(name: str) -> Format:
    """The format called `name` (a usage error naming the known ones if there is none)."""
    if name not in _FORMATS and name in BUILTIN_FORMATS:
        try:
            importlib.import_module(BUILTIN_FORMATS[name])
        except ModuleNotFoundError as err:
            if err.name != BUILTIN_FORMATS[name]:
                raise
    if name not in _FORMATS:
        known = ", ".join(n for n in format_names()
                          if n in _FORMATS or _module_exists(BUILTIN_FORMATS.get(n, "")))
        raise UsageError(f"--format {name}: unknown format (formats: {known})")
    return _FORMATS[name]


def _module_exists(module: str) -> bool:
    import importlib.util

    return bool(module) and importlib.util.find_spec(module) is not None


def load(path: str, include_dirs: Sequence[str] = (), name: str | None = None) -> ExportInput:
    """Parse, compile and plan one profile of the file at `path` for export.

    The plan is compiled for the newest Landlock ABI stockade knows, so an export does not
    depend on the kernel of the machine that runs `stockade export`, nor on its processes.
    """
    from stockade.enforce import landlock as ll
    from stockade.enforce.plan.proc import is_pid_entry
    from stockade.enforce.plan.profile import compile_plan, select_profile
    from stockade.policy import compile_profiles

    profiles = compile_profiles(path, include_dirs)
    profile = select_profile(profiles, name, path)
    planned = compile_plan(profile, abi=ll.LATEST_KNOWN_ABI)
    # An `@{pid}` rule expands to the /proc/PID of every process of this machine as it is now:
    # nothing of the target's. Its own-/proc part is reported lost (own_proc_losses).
    own = {r.source for r in planned.plan.own_proc}
    planned.plan.fs_rules = [r for r in planned.plan.fs_rules
                             if not (r.source in own and is_pid_entry(r.path))]
    return ExportInput(profile, planned, path, tuple(include_dirs))


def export(fmt: str, inp: ExportInput) -> ExportResult:
    """Run format `fmt` on `inp`."""
    return run_format(exporter(fmt), inp)


def run_format(fmt: Format, inp: ExportInput) -> ExportResult:
    """Run `fmt` on `inp`; what no plan-based target carries is added to its losses."""
    result = fmt.run(inp)
    if result.from_plan and not result.own_proc_carried:
        result.lost += own_proc_losses(inp, fmt.name)
    return result


def own_proc_losses(inp: ExportInput, target: str) -> list[CoverageEntry]:
    """One loss per rule on the program's own /proc/PID (`@{PROC}/@{pid}/...`): `stockade run`
    grants it at launch, when the pid is known; no exported format can name that pid."""
    texts = {f"{r.pos.file}:{r.pos.line}": " ".join(r.text.split())
             for r in inp.profile.file_rules}
    losses = Losses(target)
    seen: set[str] = set()
    for rule in inp.planned.plan.own_proc:
        if not rule.deny and rule.source not in seen:
            seen.add(rule.source)
            losses.add(texts.get(rule.source, rule.pattern), CoverageStatus.APPROXIMATED,
                       "the program's own /proc/PID (granted by stockade run at launch, when "
                       "its pid is known) is not named: it follows the target's permissions",
                       source=rule.source, enforced_by="stockade run (Landlock)")
    return losses.entries


class Losses:
    """Collects what a target cannot express, one entry per rule (for exporters)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.report = CoverageReport()

    def add(self, rule: str, status: CoverageStatus, detail: str, *, source: str = "",
            enforced_by: str = "") -> None:
        """Record one rule the target weakens; `status` must not be EXACT."""
        if status is CoverageStatus.EXACT:
            raise ValueError("a loss cannot be exact")
        self.report.add(rule, status, f"{self.target}: {detail}", source=source,
                        enforced_by=enforced_by)

    @property
    def entries(self) -> list[CoverageEntry]:
        """The entries recorded so far."""
        return self.report.entries
