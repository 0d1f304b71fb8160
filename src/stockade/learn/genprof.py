"""genprof: what a program did → an AppArmor-syntax profile that allows exactly that.

Accesses are merged and collapsed into safe globs (`learn.globs`), abstractions are included
where they cover what was seen (`learn.abstractions`), helpers run with `ix` by default, and
the network and capability rules seen are added.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence

from stockade.learn.abstractions import choose
from stockade.learn.globs import collapse, escape, is_under
from stockade.learn.proposals import Access, Proposal, propose


def profile_text(name: str, attachment: str, accesses: Sequence[Access], *,
                 include_dirs: Iterable[str] = (), command: Sequence[str] = (),
                 exec_mode: str = "ix", homes: list[str] | None = None) -> str:
    """The profile for `accesses`, named `name`, attached to `attachment` (the program)."""
    dirs = list(include_dirs)
    abstractions, rest = choose(accesses, dirs)
    proposals = propose(fold_created(rest, homes), None, exec_mode=exec_mode, homes=homes)
    return render(name, attachment, abstractions, proposals, command=command)


def fold_created(accesses: Sequence[Access], homes: list[str] | None = None) -> list[Access]:
    """Accesses beneath a directory where the program made or removed names, as that tree.

    Landlock grants creating and removing per directory, and a file created later is covered
    only by a rule on a directory above it: a profile naming `/tmp/ccX1.s` cannot let the
    next run create `/tmp/ccY2.s`. So where the program created or removed something, the
    learned profile grants the tree of the highest such directory (`DIR/** rw`), wider than
    the exact names, and says so in a comment.
    """
    tops: list[str] = []
    for a in sorted((a for a in accesses if a.created), key=lambda a: len(a.path)):
        parent = os.path.dirname(a.path.rstrip("/")) or "/"
        if parent != "/" and not any(is_under(parent, t) for t in tops):
            tops.append(parent)
    if not tops:
        return list(accesses)
    folded: list[Access] = []
    for a in accesses:
        top = next((t for t in tops if a.kind == "file" and is_under(a.path.rstrip("/"), t)), None)
        if top is None:
            folded.append(a)
        else:
            folded.append(Access("file", path=collapse(top, homes) + "/**", letters=a.letters))
    return folded


def render(name: str, attachment: str, abstractions: Sequence[str], proposals: Sequence[Proposal],
           *, command: Sequence[str] = ()) -> str:
    """Profile text from its parts."""
    lines = [f"# Learned by stockade learn on {time.strftime('%Y-%m-%d %H:%M:%S')}"]
    if command:
        lines.append("# from: " + " ".join(command))
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
    lines += [f"  {p.render()}" for p in files]
    lines.append("}")
    return "\n".join(lines) + "\n"
