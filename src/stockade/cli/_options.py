"""A command's options as data: one table feeds argparse and a fast path that skips it.

argparse costs a plain `stockade run` about 5 ms of its start-up (importing it loads re,
gettext and locale; building the parser looks up every message's translation). A command
module may define `OPTIONS`, a sequence of `Option`: its `add_arguments` adds them to its
argparse parser (`add_options`) and `fast_parse` reads an argv with the same table. The fast
path accepts only the exact spellings of the table's flags in simple forms (`--flag`,
`--flag VALUE`, `--flag=VALUE`, `-f VALUE`) followed by `--` and the command; for anything else
(an abbreviation, `-h`, attached short values, a value that starts with `-`, a value the
option's type or choices refuse, two options of one exclusive group, no `--`) it declines
and argparse parses the same argv, errors and help included. A Hypothesis test checks that
whenever it accepts, the values equal argparse's (tests/cli/test_fast_options.py).
"""

from __future__ import annotations

from stockade.slotted import Slotted

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (start-up)
if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence
    from typing import Any

#: argparse.REMAINDER (the value argparse.py defines), without importing argparse
REMAINDER = "..."


class Group(Slotted):
    """An argparse group: a titled argument group, or a mutually exclusive one."""

    __slots__ = ("exclusive", "title")
    FIELDS = ("title", "exclusive")

    def __init__(self, title: str | None = None, exclusive: bool = False) -> None:
        self.title = title
        self.exclusive = exclusive


class Option(Slotted):
    """One `add_argument` call: the flags (or the positional's name), its keyword arguments
    and the group it belongs to."""

    __slots__ = ("flags", "group", "kwargs")
    FIELDS = ("flags", "kwargs", "group")

    def __init__(self, flags: tuple[str, ...], kwargs: dict[str, Any],
                 group: Group | None = None) -> None:
        self.flags = flags
        self.kwargs = kwargs
        self.group = group

    @property
    def dest(self) -> str:
        """The namespace attribute, as argparse derives it."""
        if "dest" in self.kwargs:
            return str(self.kwargs["dest"])
        longs = [f for f in self.flags if f.startswith("--")]
        return (longs or list(self.flags))[0].lstrip("-").replace("-", "_")


def add_options(parser: argparse._ActionsContainer, options: Sequence[Option]) -> None:
    """Add `options` to `parser`, each group made where its first option comes (so help and
    usage list them as separate calls would)."""
    made: dict[int, argparse._ActionsContainer] = {}
    for option in options:
        container = parser
        group = option.group
        if group is not None:
            if id(group) not in made:
                made[id(group)] = (parser.add_mutually_exclusive_group() if group.exclusive
                                   else parser.add_argument_group(group.title))
            container = made[id(group)]
        container.add_argument(*option.flags, **option.kwargs)


def _value(option: Option, text: str) -> tuple[bool, Any]:
    """(True, the converted value) or (False, None) where argparse would have to judge."""
    if not text or text.startswith("-"):
        return False, None
    convert = option.kwargs.get("type")
    try:
        value = convert(text) if convert is not None else text
    except Exception:  # argparse reports it
        return False, None
    choices = option.kwargs.get("choices")
    if choices is not None and value not in choices:
        return False, None
    return True, value


def fast_parse(options: Sequence[Option], argv: Sequence[str]) -> dict[str, Any] | None:
    """The values argparse would give `argv` (each option's dest to its value), or None when
    the argv is not of the simple forms this reads (then argparse must parse it)."""
    flags = {flag: opt for opt in options for flag in opt.flags if flag.startswith("-")}
    rest = [opt for opt in options if not opt.flags[0].startswith("-")]
    if len(rest) != 1 or rest[0].kwargs.get("nargs") != REMAINDER:
        return None
    values: dict[str, Any] = {}
    for opt in options:
        action = opt.kwargs.get("action")
        if "default" not in opt.kwargs and action in ("store_true", "store_false"):
            default: Any = action == "store_false"
        else:
            default = opt.kwargs.get("default")
        values[opt.dest] = list(default) if isinstance(default, list) else default
    chosen: dict[int, Option] = {}  # exclusive group -> the option given
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            values[rest[0].dest] = list(argv[i:])  # REMAINDER keeps the `--`
            return values
        flag, explicit = token, None
        if token.startswith("--") and "=" in token:
            flag, explicit = token.split("=", 1)
        opt = flags.get(flag)
        if opt is None or "nargs" in opt.kwargs:
            return None
        if (opt.group is not None and opt.group.exclusive
                and chosen.setdefault(id(opt.group), opt) is not opt):
            return None
        action = opt.kwargs.get("action", "store")
        if action in ("store", "append"):
            if explicit is None:
                i += 1
                if i == len(argv):
                    return None
                explicit = argv[i]
            ok, value = _value(opt, explicit)
            if not ok:
                return None
            if action == "store":
                values[opt.dest] = value
            else:
                values[opt.dest].append(value)
        elif explicit is not None:
            return None
        elif action in ("store_true", "store_false"):
            values[opt.dest] = action == "store_true"
        elif action == "store_const":
            values[opt.dest] = opt.kwargs["const"]
        else:
            return None
        i += 1
    return None  # no `--`
