"""The compiled audit.log reader (the `_fastread` C extension), when it is built.

`_fastread.Reader` does what `correlate.records_from_lines` does for a block of lines: cut each
line's head, group records into events with Correlator.add's rules and limits, and interpret
each completed event. It builds the AuditRecords of kernel-only events and of AppArmor AVC
events itself and hands every other event to `interpret.interpret` (as RawRecords), so the
Python modules stay the one definition; tests/audit/test_fastread.py checks that both readers
give the same records, field for field. Made with `rows=eventrows.event_rows` (audit import),
it gives each completed event's store rows instead: an AppArmor file event's row built in C by
eventrows._fast_apparmor's rules, any other event's by `event_rows` (tests/audit/
test_importrows.py: the same rows as the Python path).

`STOCKADE_AUDIT_PURE=1` forces the pure-Python reader; it is also used when the extension is
missing (installed without a C compiler).
"""

from __future__ import annotations

import os
from typing import Any

ENV_PURE = "STOCKADE_AUDIT_PURE"
_module: Any = None


def _load() -> Any:
    global _module
    if _module is None:
        from stockade.audit.readers import correlate, interpret, parser, types
        from stockade.audit.readers.aalog.grammar import log_masks
        from stockade.audit.readers.syscalls import syscall_name
        from stockade.audit.record import AuditRecord
        from stockade.lsm.caps import cap_name

        try:
            from stockade.audit.readers import _fastread  # type: ignore[attr-defined]
        except ImportError:
            _module = False
        else:
            _fastread.setup(correlate._tokens, correlate._token, parser.parse_line,
                            interpret.interpret, parser.RawRecord, AuditRecord,
                            interpret._KERNEL_OPS, types.type_name, interpret._INDEX,
                            (log_masks, cap_name, syscall_name, parser.UNTRUSTED,
                             interpret.errno_action, interpret.FALLBACK_ENOSYS,
                             parser.avc_permissions, interpret.syscall_fields))
            _module = _fastread
    return _module or None


def reader(max_pending: int = 64, max_records: int = 256, rows: Any = None) -> Any | None:
    """A compiled reader with the Correlator's limits, or None for the pure-Python one
    (forced by STOCKADE_AUDIT_PURE, or the extension is not built). With `rows`
    (eventrows.event_rows) it gives each completed event's store rows instead of its
    AuditRecords: the common AppArmor file event's row built in C, any other event's by
    calling `rows(event, first)`."""
    if os.environ.get(ENV_PURE, "") not in ("", "0"):
        return None
    module = _load()
    return module.Reader(max_pending, max_records, rows) if module is not None else None


def name() -> str:
    """'c' or 'python': which reader `records_from_lines` uses now."""
    return "c" if reader() is not None else "python"
