"""The module stack named by `--lsm/--context/--module-option/--module-file`.

`run --mode` and `explain` take the same four options (cli/_stack_args.py defines them once);
`stack_spec` turns their values into one `StackSpec`, so the same flags mean the same stack in
both commands. What differs is said where it differs: explain adds DAC (no kernel checks it
for an offline question) and its host settings for Yama, Lockdown and LoadPin.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from stockade.errors import UsageError
from stockade.lsm.module import Mode, SecurityModule
from stockade.lsm.stack import AuditSink, Stack
from stockade.modules.registry import DEFAULT_LSM, build_stack
from stockade.modules.selinux.hostconfig import HostPolicy


@dataclass
class StackSpec:
    """What the four options ask for: the lsm= list, module settings, the subject's labels,
    ready-made modules (--module-file), and the host policy used for selinux (if any)."""

    lsm: str
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    contexts: tuple[tuple[str, str], ...] = ()
    extra: dict[str, SecurityModule] = field(default_factory=dict)
    host_policy: HostPolicy | None = None

    def names(self) -> list[str]:
        """The module names of the lsm= list, in order."""
        return [n.strip() for n in self.lsm.split(",") if n.strip()]

    def build(self, *, modes: Mapping[str, Mode] | None = None, dac: bool = True,
              audit_sink: AuditSink | None = None,
              extra: Mapping[str, SecurityModule] | None = None) -> Stack:
        """The stack (`extra`: more ready-made modules, e.g. apparmor with its profiles)."""
        return build_stack(self.lsm, settings=self.settings, modes=modes, dac=dac,
                           audit_sink=audit_sink, extra={**self.extra, **(extra or {})})


def parse_options(items: Sequence[str]) -> dict[str, dict[str, Any]]:
    """`["selinux.policy_paths=[\\"a.cil\\"]", "biba.default_level=high"]` -> settings per module
    (the value is JSON when it parses as JSON, else a string)."""
    settings: dict[str, dict[str, Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        module, dot, name = key.partition(".")
        if not sep or not dot or not module or not name:
            raise UsageError(f"--module-option expects MODULE.KEY=VALUE, not {item!r}")
        try:
            value: Any = json.loads(text)
        except ValueError:
            value = text
        settings.setdefault(module, {})[name] = value
    return settings


def stack_spec(lsm: str | None, contexts: Sequence[str] = (), options: Sequence[str] = (),
               module_files: Sequence[str] = (), *,
               base_settings: Mapping[str, Mapping[str, Any]] | None = None,
               host_policy: HostPolicy | None = None, add_selinux: bool = False,
               default_lsm: str = DEFAULT_LSM) -> StackSpec:
    """The stack the flags name.

    `lsm` None means `default_lsm`, plus selinux when `add_selinux` and `host_policy` is
    given (explain's default; `run --mode` adds no module the user did not name). A selinux
    module without `policy_paths` (or `policy`) gets `host_policy`'s file and, unless told
    `enforcing`, its mode. `base_settings` are defaults the options override.
    """
    from stockade.modules.labels import parse_contexts
    from stockade.modules.programmable import load_module_files, lsm_with

    settings: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (base_settings or {}).items()}
    for module, values in parse_options(options).items():
        settings.setdefault(module, {}).update(values)
    chosen = lsm if lsm is not None else default_lsm
    if lsm is None and host_policy is not None and add_selinux:
        chosen = lsm_with(chosen, ["selinux"])
    extra = load_module_files(module_files) if module_files else {}
    spec = StackSpec(lsm_with(chosen, extra), settings, parse_contexts(contexts), extra)
    selinux = settings.get("selinux", {})
    if "selinux" in spec.names() and host_policy is not None \
            and not {"policy_paths", "policy"} & selinux.keys():
        selinux = settings.setdefault("selinux", {})
        selinux["policy_paths"] = [host_policy.path]
        selinux.setdefault("enforcing", host_policy.enforcing)
        spec.host_policy = host_policy
    return spec
