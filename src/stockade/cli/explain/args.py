"""What one `stockade explain` question may say: the options a --batch line is parsed by
alone, and the command line's too."""

from __future__ import annotations

import argparse

from stockade.cli._stack_args import add_stack_arguments
from stockade.lsm import operations as ops


def add_question_arguments(parser: argparse.ArgumentParser) -> None:
    """What one question may say (a --batch line is parsed by these options alone)."""
    parser.add_argument("operation", metavar="OPERATION", nargs="?", choices=ops.OPERATIONS,
                        help=", ".join(ops.OPERATIONS))
    parser.add_argument("target", metavar="TARGET", nargs="?",
                        help="a path, HOST:PORT or a pid")
    parser.add_argument("--as", dest="as_user", metavar="USER|UID",
                        help="the subject's user (default: this process's credentials)")
    parser.add_argument("--groups", help="supplementary groups, comma-separated")
    parser.add_argument("--caps", help="effective capabilities: names, 'all' or 'none'")
    subject = parser.add_argument_group("hypothetical object")
    subject.add_argument("--owner", help="owner of the target (or of a file to create)")
    subject.add_argument("--group", help="group of the target")
    subject.add_argument("--mode", help="mode bits of the target, octal")
    extra = parser.add_argument_group("operation arguments")
    extra.add_argument("--to", metavar="DEST", help="destination of rename")
    extra.add_argument("--new-mode", help="chmod: the new mode, octal")
    extra.add_argument("--new-owner", metavar="USER[:GROUP]", help="chown: the new owner")
    extra.add_argument("--signal", default="TERM", help="kill: the signal (default TERM)")
    extra.add_argument("--fstype", default="", help="mount: the filesystem type")
    mods = parser.add_argument_group("module stack (as `run --mode` takes them)")
    add_stack_arguments(mods)
    mods.add_argument("--no-host-policy", dest="host_policy", action="store_false",
                      help="without --lsm, leave out the host's SELinux policy (used by "
                           "default when /etc/selinux/config names one)")
    host = parser.add_argument_group("module settings")
    host.add_argument("--yama-scope", type=int, choices=range(4), metavar="0-3",
                      help="Yama ptrace_scope (default: this host's, else 1)")
    host.add_argument("--lockdown", choices=("none", "integrity", "confidentiality"),
                      help="Lockdown level (default: this host's, else none)")
    host.add_argument("--loadpin-root", metavar="PATH", default=None,
                      help="LoadPin's pinned filesystem: the one holding PATH "
                           "(default /lib/modules, else /)")
    aa = parser.add_argument_group("apparmor")
    aa.add_argument("--profile", metavar="FILE",
                    help="confine the subject by an AppArmor profile file (adds apparmor to --lsm) "
                         "and show what `stockade run -p FILE` would enforce in the kernel")
    aa.add_argument("-I", "--include", dest="include_dirs", action="append", default=[],
                    metavar="DIR", help="include search directory for --profile (repeatable)")
    aa.add_argument("--profile-name", metavar="NAME",
                    help="the profile of FILE to use (default: the first one)")
