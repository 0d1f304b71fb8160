# ruff: noqa: E501  (audit records are long lines; kept verbatim as the kernel writes them)
"""Reading a stored event back (`eventrows.event_records`): the compiled reader's records are
the Python reader's (`parse_line` and `interpret`), field for field with their types, for every
event the corpus stores and for texts the importer never writes (EOE lines, user messages, two
stamps, lines that are not records, more records than an event may hold, a later part)."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockade.audit.eventrows import event_records, rows_from_file
from stockade.audit.readers import fast
from stockade.audit.store import MARK
from stockade.errors import StockadeError

from .store_answers import build_corpus

pytestmark = pytest.mark.skipif(fast.reader() is None, reason="the compiled reader is not built")

STAMP = "1700000001.100:10"
AVC = (f'type=AVC msg=audit({STAMP}): apparmor="DENIED" operation="open" class="file" '
       'profile="/usr/bin/app" name="/etc/shadow" pid=1234 comm="app" requested_mask="r" '
       'denied_mask="r" fsuid=1000 ouid=0')
SYSCALL = (f"type=SYSCALL msg=audit({STAMP}): arch=c000003e syscall=257 success=no "
           "exit=-13 a0=ffffff9c a1=55d0 a2=80000 a3=0 items=1 ppid=1 pid=1234 auid=1000 uid=1000 "
           "gid=1000 euid=1000 suid=1000 fsuid=1000 egid=1000 sgid=1000 fsgid=1000 tty=pts0 ses=3 "
           'comm="app" exe="/usr/bin/app" subj=unconfined key=(null)')
PROCTITLE = f"type=PROCTITLE msg=audit({STAMP}): proctitle=617070"
PATH = f'type=PATH msg=audit({STAMP}): item=0 name="/etc/shadow" inode=5 dev=fd:01 mode=0100640 ouid=0 ogid=42 rdev=00:00 nametype=NORMAL'
EOE = f"type=EOE msg=audit({STAMP}): "
USER = (f"type=USER_START msg=audit({STAMP}): pid=5 uid=0 auid=1000 ses=2 "
        "msg='op=PAM:session_open acct=\"u\" exe=\"/usr/sbin/sshd\" res=success'")
LANDLOCK = f'type=UNKNOWN[1423] msg=audit({STAMP}): domain=1a6fdc679 blockers=fs.read_file path="/etc/shadow" dev="vda2" ino=10'


def _both(text: str, monkeypatch: pytest.MonkeyPatch) -> tuple[object, object]:
    """event_records(text) through the compiled reader and through the Python one: the
    records' reprs (every field, with its type), or the error's message."""
    out: list[object] = []
    for pure in ("", "1"):
        monkeypatch.setenv(fast.ENV_PURE, pure)
        try:
            out.append([repr(r) for r in event_records(text)])
        except StockadeError as err:
            out.append(str(err))
    return out[0], out[1]


def test_every_stored_event_reads_back_the_same(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    texts: set[str] = set()
    for path in build_corpus(tmp_path).values():
        if path.suffix == ".log":
            texts.update(row[8] for row in rows_from_file(path, {})
                         if row is not None and row[8].startswith(MARK))
    assert len(texts) > 3000
    for text in sorted(texts):
        compiled, python = _both(text, monkeypatch)
        assert compiled == python, text


@pytest.mark.parametrize("lines", [
    [AVC, SYSCALL, PROCTITLE], [AVC], [USER], [LANDLOCK, SYSCALL], [SYSCALL, PATH, PROCTITLE],
    [EOE, AVC, SYSCALL], [AVC, SYSCALL, EOE], [AVC, EOE, SYSCALL], [EOE],
    [AVC, USER, SYSCALL], [USER, USER], [AVC, SYSCALL.replace(STAMP, "1700000001.100:11")],
    [AVC, "not an audit record", SYSCALL], [AVC, ""], [f"node=h1 {AVC}", f"node=h1 {SYSCALL}"],
    [AVC.replace("type=AVC", "type=1400"), EOE.replace("type=EOE", "type=1320")],
    [AVC, SYSCALL, *[PATH] * 300], [LANDLOCK] * 257, [LANDLOCK] * 256,
], ids=lambda lines: f"{len(lines)}-lines")
@pytest.mark.parametrize("first", [0, 3])
def test_texts_the_importer_never_writes_read_the_same(lines: list[str], first: int,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    compiled, python = _both(f"{MARK}{first}\n" + "\n".join(lines), monkeypatch)
    assert compiled == python
