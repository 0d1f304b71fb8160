#!/usr/bin/env python3
"""Regenerate the system call mediation table in docs/enforce.md from the code
(stockade.enforce.mediation); `--check` exits 1 if the document is out of date."""

from __future__ import annotations

import pathlib
import sys

from stockade.enforce.mediation.render import splice

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "enforce.md"


def main() -> int:
    """Write the table (or check it with --check)."""
    text = DOC.read_text(encoding="utf-8")
    new = splice(text)
    if "--check" in sys.argv[1:]:
        if new != text:
            print(f"{DOC} is out of date: run scripts/gen_mediation_doc.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
