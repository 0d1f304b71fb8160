"""Points in time as people write them: `30m`, `1h`, `2d`, `1w` ago, ISO 8601, or epoch seconds."""

from __future__ import annotations

import re
import time
from datetime import datetime

from stockade.errors import UsageError

_RELATIVE = re.compile(r"(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hour|d|day|w|week)s?", re.I)
_UNIT = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hour": 3600, "d": 86400,
         "day": 86400, "w": 604800, "week": 604800}


def parse_since(text: str, now: float | None = None) -> float:
    """Epoch seconds for `1h` (an hour ago), `2024-05-01T10:00`, `2024-05-01` or `1714550400`."""
    now = time.time() if now is None else now
    value = text.strip()
    match = _RELATIVE.fullmatch(value)
    if match:
        return now - float(match.group(1)) * _UNIT[match.group(2).lower()]
    try:
        return float(value)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"cannot read the time {text!r}: use 30m, 1h, 2d, 1w, an ISO date "
                         "(2024-05-01T10:00) or epoch seconds") from None
    return parsed.timestamp()


def iso(seconds: float) -> str:
    """Local time, to the millisecond, as ISO 8601."""
    return datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="milliseconds")
