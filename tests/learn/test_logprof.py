"""logprof: denials from stockade's records and the kernel's audit text → profile additions."""

import json
import subprocess
import sys

from stockade.audit.record import AuditRecord
from stockade.learn.globs import collapse, glob_directory, glob_with_extension
from stockade.policy import compile_profiles

PROFILE = """# my profile
include <tunables/global>

profile demo /usr/bin/demo {
  # comments and layout survive
  /etc/hostname r,
  /usr/bin/demo mr,

  ^helper {
    /tmp/x r,
  }
}
"""

KERNEL_LOG = """\
type=AVC msg=audit(1700000000.100:10): apparmor="DENIED" operation="open" class="file" \
profile="demo" name="/etc/shadow" pid=42 comm="demo" requested_mask="r" denied_mask="r" fsuid=0 ouid=0
type=SYSCALL msg=audit(1700000000.100:10): arch=c000003e syscall=257 success=no exit=-13 a0=ffffff9c \
a1=55 a2=0 a3=0 items=1 ppid=1 pid=42 auid=0 uid=0 gid=0 euid=0 suid=0 fsuid=0 egid=0 sgid=0 fsgid=0 \
tty=pts0 ses=1 comm="demo" exe="/usr/bin/demo" subj=demo key=(null)
type=AVC msg=audit(1700000000.200:11): apparmor="DENIED" operation="capable" class="cap" \
profile="demo" pid=42 comm="demo" capability=12  capname="net_admin"
type=AVC msg=audit(1700000000.300:12): apparmor="DENIED" operation="open" class="file" \
profile="other" name="/etc/passwd" pid=43 comm="x" requested_mask="r" denied_mask="r" fsuid=0 ouid=0
"""


def stockade_records() -> list[AuditRecord]:
    def rec(serial: int, obj: str, denied: str, result: str = "DENIED", **fields: str):
        return AuditRecord(time=1.0 + serial, serial=serial, operation="file_open",
                           module="apparmor", result=result, object=obj, denied=denied,
                           profile="demo", subject="demo", fields=dict(fields))
    return [rec(1, "/proc/4242/status", "r"), rec(2, "/var/log/demo.log", "w"),
            rec(3, "/var/log/demo.log", "a", result="ALLOWED"),
            rec(4, "/etc/hostname", "r"),  # already allowed: not proposed
            rec(5, "/usr/bin/helper-tool", "x")]


def logprof(tmp_path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "stockade", "logprof", *args],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)


def test_logprof_from_kernel_text_and_jsonl(tmp_path) -> None:
    profile = tmp_path / "demo"
    profile.write_text(PROFILE)
    (tmp_path / "audit.log").write_text(KERNEL_LOG)
    with open(tmp_path / "records.jsonl", "w") as f:
        for r in stockade_records():
            f.write(r.to_json() + "\n")
    out = logprof(tmp_path, "-p", str(profile), "--log", "audit.log", "--log", "records.jsonl",
                  "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    rules = data["rules"]
    assert "capability net_admin," in rules
    assert "/etc/shadow r," in rules
    assert "@{PROC}/@{pid}/status r," in rules
    assert "/var/log/demo.log w," in rules  # w covers a (apparmor_parser rejects "wa")
    assert "/usr/bin/helper-tool ix," in rules
    assert not any("hostname" in r for r in rules)  # already allowed
    assert not any("passwd" in r for r in rules)  # another profile's denial
    assert profile.read_text() == PROFILE  # nothing written without --apply


def test_logprof_apply_keeps_layout_and_result_compiles(tmp_path) -> None:
    profile = tmp_path / "demo"
    profile.write_text(PROFILE)
    (tmp_path / "audit.log").write_text(KERNEL_LOG)
    out = logprof(tmp_path, "-p", str(profile), "--log", "audit.log", "--apply")
    assert out.returncode == 0, out.stderr
    assert "+  /etc/shadow r," in out.stdout
    text = profile.read_text()
    assert "# comments and layout survive" in text and text.startswith("# my profile\n")
    assert text.index("/etc/shadow r,") > text.index("^helper")  # end of the profile's body
    compiled = compile_profiles(str(profile))[0]
    assert compiled.file_perms("/etc/shadow").allow
    assert "net_admin" in compiled.capabilities.effective
    again = logprof(tmp_path, "-p", str(profile), "--log", "audit.log")
    assert "no changes proposed" in again.stdout


def test_logprof_errors_are_one_line(tmp_path) -> None:
    profile = tmp_path / "demo"
    profile.write_text(PROFILE)
    out = logprof(tmp_path, "-p", str(profile), "--log", "missing.log")
    assert out.returncode == 2 and "no such log" in out.stderr and "Traceback" not in out.stderr
    (tmp_path / "bad").write_text("profile x {\n  /etc/hostname r\n")
    out = logprof(tmp_path, "-p", str(tmp_path / "bad"), "--log", str(profile))
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_collapse_is_safe() -> None:
    homes = ["/home/alice/", "/root/"]
    assert collapse("/proc/1234/status", homes) == "@{PROC}/@{pid}/status"
    assert collapse("/proc/12/task/13/stat", homes) == "@{PROC}/@{pid}/task/@{tid}/stat"
    assert collapse("/home/alice/.config/app.ini", homes) == "@{HOME}/.config/app.ini"
    assert collapse("/usr/lib/x86_64-linux-gnu/libssl.so.3", homes) == \
        "/usr/lib/@{multiarch}/libssl.so*"
    assert collapse("/usr/lib/python3.11/json/__init__.py", homes) == \
        "/usr/lib/python3.[0-9]*/json/__init__.py"
    assert collapse("/tmp/tmpa1b2c3d4/data.db", homes) == "/tmp/tmp*/data.db"
    assert collapse("/tmp/report.txt", homes) == "/tmp/report.txt"  # not random: kept
    assert collapse("/etc/my file", homes) == "/etc/my\\ file"
    assert collapse("/etc/a{b}", homes) == "/etc/a\\{b\\}"
    assert glob_directory("/a/b/c") == "/a/b/*"
    assert glob_with_extension("/a/b/c.txt") == "/a/b/*.txt"


LANDLOCK_LOG = """\
type=LANDLOCK_DOMAIN msg=audit(1700000100.000:50): domain=1a2b3c status=allocated mode=enforcing \
pid=4242 uid=0 exe="/usr/bin/python3.11" comm="python"
type=LANDLOCK_ACCESS msg=audit(1700000100.000:51): domain=1a2b3c blockers=fs.make_reg \
path="/srv/work/out" dev="vda" ino=11
type=LANDLOCK_DOMAIN msg=audit(1700000100.000:52): domain=9f9f9f status=allocated mode=enforcing \
pid=5555 uid=0 exe="/usr/bin/python3.11" comm="python"
type=LANDLOCK_ACCESS msg=audit(1700000100.000:53): domain=9f9f9f blockers=fs.read_file \
path="/etc/shadow" dev="vda" ino=12
type=LANDLOCK_ACCESS msg=audit(1700000100.000:54): domain=777777 blockers=fs.read_file \
path="/etc/gshadow" dev="vda" ino=13
"""


def test_kernel_landlock_records_are_tied_to_the_profile_by_domain(tmp_path) -> None:
    """A 1423 record belongs to the profile whose `stockade run` created its domain (1424's
    pid = the status record's pid); another run's records never come in, even with
    --any-profile, which adds only records no run is known for."""
    from stockade.audit.readers.sources import read_records
    from stockade.learn.logprof import records_for

    log = tmp_path / "audit.log"
    log.write_text(LANDLOCK_LOG)
    prof = tmp_path / "demo.profile"
    prof.write_text(PROFILE)
    profile = compile_profiles(str(prof))[0]
    records = list(read_records(str(log)))
    owners = {4242: "demo", 5555: "other"}
    mine = records_for(profile, records, owners=owners)
    assert [r.object for r in mine] == ["/srv/work/out"]
    assert records_for(profile, records) == []  # no run known: nothing is claimed
    wider = records_for(profile, records, owners=owners, any_profile=True)
    assert sorted(r.object for r in wider) == ["/etc/gshadow", "/srv/work/out"]


def test_logprof_proposes_what_the_plan_enforces_and_converges(tmp_path) -> None:
    """A make_reg denial in an empty directory: the proposal must be granted by the plan
    (`out/* w` goes through out/), applied once, and never proposed again."""
    from stockade.enforce import landlock as ll
    from stockade.enforce.plan.profile import compile_file

    out = tmp_path / "out"
    out.mkdir()
    prof = tmp_path / "demo.profile"
    prof.write_text(PROFILE)
    rec = AuditRecord(time=1700000000.0, serial=1, module="landlock", result="DENIED",
                      object=str(out),
                      denied="fs.make_reg", requested="fs.make_reg", operation="fs.make_reg",
                      profile="demo", fields={"domain": "1a2b3c"})
    log = tmp_path / "denials.jsonl"
    log.write_text(rec.to_json() + "\n")

    def logprof(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "stockade", "logprof", "-p", str(prof),
                               "--log", str(log), *extra], capture_output=True, text=True,
                              timeout=60)

    first = logprof("--apply")
    assert first.returncode == 0 and f"+  {out}/* w," in first.stdout, first.stdout
    assert "still denied" not in first.stderr
    plan = compile_file(str(prof)).plan
    granted = {r.path: r.access for r in plan.fs_rules}
    assert ll.AccessFs.MAKE_REG in granted[str(out)]  # enforced, not a glob over nothing
    again = logprof("--apply")
    assert "no changes proposed" in again.stdout, again.stdout


def test_logprof_log_without_denials_says_why_and_what_to_do(tmp_path) -> None:
    # a `stockade run --audit` log as non-root: plan/start/exit, no denial records
    profile = tmp_path / "demo"
    profile.write_text(PROFILE)
    (tmp_path / "run.jsonl").write_text('{"event": "exit", "status": 2, "time": 1.0}\n')
    out = logprof(tmp_path, "-p", str(profile), "--log", "run.jsonl")
    assert out.returncode == 0, out.stderr
    assert "no changes proposed" in out.stdout
    assert "no denial records" in out.stderr and "stockade learn -o" in out.stderr
    assert "run --complain -p PROFILE --audit FILE" in out.stderr
    assert profile.read_text() == PROFILE


def test_logprof_as_nobody_without_a_readable_audit_log_is_no_traceback() -> None:
    """Newcomer pass: as nobody, the default /var/log/audit/audit.log (root's, 0600) gave
    `internal error: PermissionError`; it is skipped with one line instead."""
    import os
    import shutil

    from confine_helpers import nobody_can_run_stockade, scratch_for, stockade_as

    if os.geteuid() != 0 or not nobody_can_run_stockade():
        import pytest

        pytest.skip("needs root to run as nobody")
    work = scratch_for("nobody", "stockade-lp-")
    try:
        profile = work / "demo"
        profile.write_text(PROFILE)
        os.chmod(profile, 0o644)
        out = stockade_as("nobody", "logprof", "-p", str(profile), cwd=work,
                          env={**os.environ, "HOME": str(work)})
        assert "internal error" not in out.stderr, out.stderr
        assert out.returncode == 0, out.stderr
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_a_file_made_in_a_directory_the_program_makes_proposes_its_tree(tmp_path) -> None:
    """A Landlock make_reg record in `out/new`, which the profile lets the program make
    (`out/*/ w`): `out/new/** rw` (the program's own directory), so that the read that follows
    the write is not another round; without that rule, the narrow `out/new/* w` stays."""
    from stockade.learn.logprof import logprof as propose_for
    from stockade.learn.proposals import accesses_from_record

    new = tmp_path / "out" / "new"
    rec = AuditRecord(time=1700000000.0, serial=1, module="landlock", result="DENIED",
                      object=str(new), denied="fs.make_reg", requested="fs.make_reg",
                      operation="fs.make_reg", profile="demo", fields={"domain": "1a2b3c"})
    assert [a.in_directory for a in accesses_from_record(rec)] == [True]
    prof = tmp_path / "demo.profile"
    prof.write_text(PROFILE)
    narrow = propose_for(str(prof), [rec])
    assert [p.render() for p in narrow.proposals] == [f"{new}/* w,"]
    prof.write_text(PROFILE.replace("  /etc/hostname r,\n",
                                    f"  /etc/hostname r,\n  {tmp_path}/out/*/ w,\n"))
    own = propose_for(str(prof), [rec])
    assert [p.render() for p in own.proposals] == [f"{new}/** rw,"]


def _dead_pid() -> int:
    """The pid of a process that has exited (as a denied program has when logprof runs)."""
    child = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                           capture_output=True, text=True, check=True)
    return int(child.stdout)


def test_still_denied_asks_with_the_denied_programs_own_proc(tmp_path) -> None:
    """A kernel Landlock denial on the program's own /proc/PID/status is granted by
    `@{PROC}/@{pid}/status r,` (the launcher grants it on the program's pid), so logprof does
    not call it still denied; another process's /proc entry, or a profile without the rule,
    still is. The program is gone when logprof runs: the question is put as for a live one."""
    from stockade.enforce.plan.records import still_denied

    pid, other = _dead_pid(), _dead_pid()

    def record(path: str) -> AuditRecord:
        return AuditRecord(time=0.0, serial=1, operation="open", module="landlock",
                           result="DENIED", pid=pid, object=path, denied="fs.read_file")

    own, others = record(f"/proc/{pid}/status"), record(f"/proc/{other}/status")
    prof = tmp_path / "p.aa"
    text = "include <tunables/global>\nprofile p {\n  /usr/** rix,\n%s}\n"
    granted = text % "  @{PROC}/@{pid}/status r,\n"
    assert still_denied(str(prof), granted, [own, others]) == [others]
    assert still_denied(str(prof), text % "", [own, others]) == [own, others]
