"""genprof: what a program did → an AppArmor-syntax profile that allows exactly that.

Accesses are merged and collapsed into safe globs (`learn.globs`), abstractions are included
where they cover what was seen (`learn.abstractions`), helpers run with `ix` by default, and
the network and capability rules seen are added.
"""

from __future__ import annotations

import shlex
import time
from collections.abc import Iterable, Sequence

from stockade.learn.abstractions import choose
from stockade.learn.globs import escape
from stockade.learn.proposals import Access, Proposal, propose


def profile_text(name: str, attachment: str, accesses: Sequence[Access], *,
                 include_dirs: Iterable[str] = (), command: Sequence[str] = (),
                 exec_mode: str = "ix", homes: list[str] | None = None) -> str:
    """The profile for `accesses`, named `name`, attached to `attachment` (the program)."""
    dirs = list(include_dirs)
    abstractions, rest = choose(accesses, dirs)
    proposals = propose(rest, None, exec_mode=exec_mode, homes=homes)
    return render(name, attachment, abstractions, proposals, command=command)


def render(name: str, attachment: str, abstractions: Sequence[str], proposals: Sequence[Proposal],
           *, command: Sequence[str] = ()) -> str:
    """Profile text from its parts."""
    lines = [f"# Learned by stockade learn on {time.strftime('%Y-%m-%d %H:%M:%S')}"]
    if command:
        # as a shell would take it (`-N ''` stays an argument); one comment line: a newline in
        # an argument (`python3 -c` scripts) would end it
        lines.append("# from: " + shlex.join(command).replace("\r", "\\r").replace("\n", "\\n"))
    lines += ["include <tunables/global>", "",
              f"profile {escape(name)} {escape(attachment)} {{"]
    lines += [f"  include <abstractions/{a}>" for a in abstractions]
    if abstractions:
        lines.append("")
    kinds = [p for p in proposals if p.kind != "file"]
    files = [p for p in proposals if p.kind == "file"]
    lines += [f"  {p.render()}" for p in kinds]
    if kinds and files:
        lines.append("")
    created = [p for p in files if p.created]
    lines += [f"  {p.render()}" for p in files if not p.created]
    if created:
        lines += ["", "  # Created or replaced by the program. A new file is a new inode, which a "
                  "Landlock", "  # rule on the old one would not cover: `stockade run` grants "
                  "these rights through", "  # each file's directory, so they apply to its other "
                  "files too."]
        lines += [f"  {p.render()}" for p in created]
    lines.append("}")
    return "\n".join(lines) + "\n"
