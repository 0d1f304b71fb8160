"""supervisor/protect.py on real files: which requests change the launcher's own files and
directories (the live refusals are in tests/tomoyo/test_tomoyo_launcher_files.py)."""

from __future__ import annotations

import os
from pathlib import Path

from stockade.enforce.supervisor.protect import Protected, for_launch
from stockade.enforce.supervisor.resolve import object_at
from stockade.lsm.types import MAY_APPEND, MAY_OPEN, MAY_READ, MAY_WRITE, Request, Subject
from stockade.slotted import replace

WHO = Subject(pid=1, uid=1000, euid=1000)


def _obj(path: Path):
    fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        return object_at(fd, path.name.encode(), labels=False, walk=False)
    finally:
        os.close(fd)


def _setup(tmp_path: Path) -> tuple[Protected, Path, Path, Path]:
    audit = tmp_path / "out" / "audit.jsonl"
    records = tmp_path / "run" / "stockade"
    for d in (audit.parent, records):
        d.mkdir(parents=True)
    audit.write_text("")
    (records / "1.json").write_text("{}")
    (tmp_path / "out" / "other").write_text("")
    prot = Protected({(audit.stat().st_dev, audit.stat().st_ino)})
    prot.add_dir(str(records))
    return prot, audit, records, tmp_path / "out" / "other"


def test_changes_to_the_launchers_files_are_refused_and_reads_are_not(tmp_path: Path) -> None:
    prot, audit, records, other = _setup(tmp_path)
    st = audit.stat()
    assert prot.open_refusal(st, str(audit), MAY_OPEN | MAY_WRITE)
    assert prot.open_refusal(st, str(audit), MAY_OPEN | MAY_APPEND)
    assert prot.open_refusal(st, str(audit), MAY_OPEN | MAY_READ) is None
    rec = records / "1.json"
    assert prot.open_refusal(rec.stat(), str(rec), MAY_OPEN | MAY_WRITE)
    assert prot.open_refusal(other.stat(), str(other), MAY_OPEN | MAY_WRITE) is None
    for hook, obj, target in [
            ("inode_unlink", _obj(audit), None),                 # remove the audit file
            ("inode_rename", _obj(other), _obj(audit)),          # replace it
            ("inode_rename", _obj(audit), _obj(other)),          # move it away
            ("inode_link", _obj(audit), _obj(tmp_path / "x")),  # a new name for it
            ("inode_create", _obj(records / "new.json"), None),  # an entry of the records
            ("inode_unlink", _obj(rec), None),
            ("inode_rmdir", _obj(records), None),                # the directory itself
            ("inode_rename", _obj(other), _obj(records / "2.json"))]:
        req = Request(hook, WHO, obj, MAY_WRITE, target=target)
        assert prot.refusal([req]) is not None, (hook, obj.path)
    assert prot.refusal([Request("inode_unlink", WHO, _obj(other), MAY_WRITE)]) is None
    assert prot.refusal([Request("file_open", WHO, _obj(audit), MAY_OPEN | MAY_READ)]) is None
    # a name that is not the file: the inode counts, not the path
    moved = replace(_obj(other), path=str(audit))
    assert prot.refusal([Request("inode_unlink", WHO, moved, MAY_WRITE)]) is None


def test_for_launch_protects_the_record_directory_and_the_outputs(tmp_path: Path,
                                                                  monkeypatch) -> None:
    audit = tmp_path / "audit.jsonl"
    audit.write_text("")
    if os.geteuid() != 0:
        monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    prot = for_launch([audit.stat()])
    st = audit.stat()
    assert (st.st_dev, st.st_ino) in prot.files
    assert ("/run/stockade" if os.geteuid() == 0 else str(tmp_path / "stockade")) \
        in prot.dirs.values()
