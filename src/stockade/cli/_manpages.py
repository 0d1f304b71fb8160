"""Writes stockade's man pages from the argparse tree: stockade(1) and stockade-COMMAND(1).

Run by `make` (`python -m stockade.cli._manpages DIR`), so the pages always say what the
parsers say. Needs argparse-manpage, which only this generator imports.
"""

from __future__ import annotations

import argparse
import os
import sys

import stockade
from stockade.cli.main import build_parser
from stockade.errors import EXIT_STATUS

SEE_ALSO = "apparmor.d(5), aa\\-genprof(8), aa\\-logprof(8), landlock(7), seccomp(2)"


def _page(parser: argparse.ArgumentParser, name: str, description: str) -> str:
    from argparse_manpage.manpage import Manpage

    data = {"project_name": "stockade", "prog": name, "version": stockade.__version__,
            "description": description, "manual_title": "stockade manual",
            "url": "https://example.invalid/stockade"}
    page = str(Manpage(parser, _data=data))
    # The title is the page's name (STOCKADE-RUN), not the prog with its space.
    page = page.replace(f".TH {name.upper()} ", f".TH {name.upper().replace(' ', chr(92) + '-')} ", 1)
    status = EXIT_STATUS.replace("-", "\\-").replace("exit status, every command: ", "")
    return page + f".SH \"EXIT STATUS\"\n{status}\n.SH \"SEE ALSO\"\n{SEE_ALSO}\n"


def write_pages(directory: str) -> list[str]:
    """Write stockade.1 and one stockade-COMMAND.1 per command into `directory`; their paths."""
    os.makedirs(directory, exist_ok=True)
    top = build_parser([])
    top.prog = "stockade"
    pages = {"stockade": _page(top, "stockade", "confine Linux programs and develop their policies")}
    for action in top._subparsers._group_actions if top._subparsers else ():
        for name, sub in getattr(action, "choices", {}).items():
            sub.prog = f"stockade {name}"
            pages[f"stockade-{name}"] = _page(sub, f"stockade {name}", sub.description or name)
    written = []
    for name, text in pages.items():
        path = os.path.join(directory, f"{name}.1")
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m stockade.cli._manpages DIR")
    print(f"{len(write_pages(sys.argv[1]))} man pages written to {sys.argv[1]}")
