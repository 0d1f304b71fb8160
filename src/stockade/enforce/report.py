"""JSON records of what a launch applied (`stockade run --audit FILE`), one object a line."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from typing import Any, Protocol

from stockade.enforce import landlock as ll
from stockade.enforce.prepare import Prepared
from stockade.enforce.seccomp import SECCOMP_FILTER_FLAG_LOG

#: Kernel audit record types of Landlock (include/uapi/linux/audit.h, Linux 6.15).
AUDIT_LANDLOCK_ACCESS = 1423
AUDIT_LANDLOCK_DOMAIN = 1424
AUDIT_SECCOMP = 1326


def kernel_record(prep: Prepared) -> dict[str, Any]:
    """What the kernel offers and where its own denial logs go."""
    errata = [f"{n}: {text}" for n, text in ll.ERRATA.items()
              if prep.landlock_errata >> (n - 1) & 1]
    rec: dict[str, Any] = {
        "event": "kernel",
        "release": os.uname().release,
        "landlock_abi": prep.landlock_abi,
        "landlock_errata_fixed": errata,
        "seccomp": prep.bpf is not None,
        "notes": list(prep.notes),
    }
    if prep.seccomp_flags & SECCOMP_FILTER_FLAG_LOG:
        rec["seccomp_audit"] = (f"seccomp denials are logged by the kernel audit subsystem as "
                                f"type {AUDIT_SECCOMP} (SECCOMP) records when audit is enabled")
    if prep.landlock_abi >= 7 and prep.landlock_active:
        logging = "on" if prep.restrict_flags & ll.RestrictFlag.LOG_NEW_EXEC_ON else "off"
        rec["kernel_audit"] = (
            f"Landlock denials of the confined program are logged by the kernel audit "
            f"subsystem (when audit is enabled) as type {AUDIT_LANDLOCK_ACCESS} "
            f"(LANDLOCK_ACCESS) and {AUDIT_LANDLOCK_DOMAIN} (LANDLOCK_DOMAIN) records; "
            f"logging after exec: {logging}"
            + ("" if os.geteuid() == 0 else "; reading them needs root")
        )
    return rec


def applied_records(prep: Prepared, argv: Sequence[str], *, strict: bool) -> list[dict[str, Any]]:
    """The records written before the command starts: kernel, plan, coverage."""
    return [
        kernel_record(prep),
        {"event": "plan", "strict": strict, "argv": list(argv), **prep.plan.to_json()},
        {"event": "coverage", "exact": prep.coverage.exact, "rules": prep.coverage.to_json()},
    ]


class LineSink(Protocol):
    """A text stream records are written to (a file, or output_file.RecordFile)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


def write_record(stream: LineSink, record: dict[str, Any]) -> None:
    """Append one JSON line with a timestamp and flush it."""
    import json  # only `--audit` pays for it
    stream.write(json.dumps({"time": round(time.time(), 3), **record}, sort_keys=True) + "\n")
    stream.flush()
