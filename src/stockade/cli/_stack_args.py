"""The module-stack options `run --mode` and `explain` share, defined once.

`--lsm/--context/--module-option/--module-file` mean the same stack in both commands:
`spec_from_args` hands their values to `modules.stack_spec.stack_spec`.
"""

from __future__ import annotations

from stockade.cli._options import Group, Option, add_options

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse

    from stockade.modules.selinux.hostconfig import HostPolicy
    from stockade.modules.stack_spec import StackSpec

LSM_HELP = ("modules, kernel lsm= style (default: capability,yama,loadpin,lockdown); a selinux "
            "module without selinux.policy_paths uses the host's policy (/etc/selinux/config) "
            "when the kernel runs SELinux")


def stack_options(lsm_help: str = LSM_HELP, group: Group | None = None) -> list[Option]:
    """--lsm, --context, --module-option and --module-file."""
    return [
        Option(("--lsm",), dict(metavar="LIST", default=None, help=lsm_help), group),
        Option(("--context",), dict(
            action="append", default=[], metavar="MODULE=LABEL",
            help="the subject's label for a module, e.g. biba=medium or "
                 "tomoyo='<kernel> /usr/bin/cat' (repeatable)"), group),
        Option(("--module-option",), dict(
            action="append", default=[], metavar="MODULE.KEY=VALUE",
            help="a module setting, VALUE as JSON or text, e.g. "
                 "'selinux.policy_paths=[\"p.cil\"]' (repeatable)"), group),
        Option(("--module-file",), dict(
            action="append", default=[], metavar="FILE",
            help="a programmable module: a Python file whose @hook functions join the stack as "
                 "a minor module (repeatable; runs with your privileges, unsandboxed)"), group),
    ]


def add_stack_arguments(group: argparse._ActionsContainer, *, lsm_help: str = LSM_HELP) -> None:
    """Add --lsm, --context, --module-option and --module-file to `group`."""
    add_options(group, stack_options(lsm_help))


def spec_from_args(args: argparse.Namespace, *, host_policy: HostPolicy | None = None,
                   base_settings: dict[str, dict[str, object]] | None = None) -> StackSpec:
    """The stack the shared options name (see modules/stack_spec.py)."""
    from stockade.enforce.plan.cache import dumps
    from stockade.modules.stack_spec import stack_spec

    dumps.install()  # authenticated; the module alone caches nothing
    return stack_spec(args.lsm, args.context, args.module_option, args.module_file,
                      base_settings=base_settings, host_policy=host_policy, add_selinux=True)
