"""Every module by the name the kernel gives it, and stacks built from an `lsm=` list."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from stockade.errors import UsageError
from stockade.lsm.module import Mode, SecurityModule
from stockade.lsm.stack import AuditSink, Stack
from stockade.modules.biba import Biba
from stockade.modules.capability import Capability
from stockade.modules.dac import Dac
from stockade.modules.loadpin import LoadPin
from stockade.modules.lockdown import Lockdown
from stockade.modules.selinux.module import SELinux
from stockade.modules.smack import Smack
from stockade.modules.yama import Yama


def _abac(**kw: Any) -> SecurityModule:
    """abac, imported on first use: cel-python takes ~0.1 s to import."""
    from stockade.modules.abac import Abac

    return Abac(**kw)


def _apparmor(**kw: Any) -> SecurityModule:
    """apparmor (options: `profiles` files/dirs/text, `include_dirs`, `profile_modes`)."""
    from stockade.modules.apparmor import AppArmor

    return AppArmor(**kw)


FACTORIES: dict[str, Callable[..., SecurityModule]] = {
    "capability": Capability,
    "yama": Yama,
    "lockdown": Lockdown,
    "loadpin": LoadPin,
    "selinux": SELinux,
    "smack": Smack,
    "biba": Biba,
    "abac": _abac,
    "apparmor": _apparmor,
}

DEFAULT_LSM = "capability,yama,loadpin,lockdown"


def build_stack(lsm: str = DEFAULT_LSM, *, settings: Mapping[str, Mapping[str, Any]] | None = None,
                modes: Mapping[str, Mode] | None = None, dac: bool = True,
                audit_sink: AuditSink | None = None, avc_threshold: int = 512,
                extra: Mapping[str, SecurityModule] | None = None) -> Stack:
    """A stack from a kernel-style `lsm=` list.

    `settings[name]` are keyword arguments for that module's constructor, `modes[name]` its
    mode, `extra` ready-made modules (e.g. an AppArmor module with its profiles loaded, or
    programmable modules from `programmable.load_module_files`, named in `lsm` as `prog:NAME`).
    """
    settings = settings or {}
    modes = modes or {}
    extra = extra or {}

    def factory(name: str) -> Callable[[], SecurityModule]:
        def make() -> SecurityModule:
            try:
                module = extra[name] if name in extra else FACTORIES[name](**settings.get(name, {}))
            except (TypeError, ValueError, AttributeError) as err:  # an unknown option, or a
                # value of the wrong type (module options come from the command line as JSON)
                raise UsageError(f"module {name}: invalid options {settings.get(name, {})}: "
                                 f"{err}") from None
            if name in modes:
                module.mode = modes[name]
            return module
        return make

    known = {name: factory(name) for name in {*FACTORIES, *extra}}
    dac_module = None
    if dac:
        dac_module = Dac(**settings.get("dac", {}))
        if "dac" in modes:
            dac_module.mode = modes["dac"]
    return Stack.from_lsm(lsm, known, dac=dac_module, audit_sink=audit_sink,
                          avc_threshold=avc_threshold)

