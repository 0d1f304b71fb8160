"""enforce/fsbatch: the batched loops of a plan cache hit, in C and in pure Python, give the same
answers, and the rules they add are what the kernel enforces (a real restricted child)."""

from __future__ import annotations

import errno
import os
import stat

import pytest
from confine_helpers import in_child

from stockade import files, fsview
from stockade.enforce import fsbatch
from stockade.enforce import landlock as ll
from stockade.enforce.prctl import set_no_new_privs


def _print(path) -> str:
    return fsview._id_print(os.stat(path))


def _check(pairs) -> str | None:
    return fsbatch.check_dirs(fsbatch.pack_dirs(pairs))


def test_check_dirs_sees_an_added_entry_and_a_gone_directory(backend, tmp_path):
    dirs = [tmp_path / n for n in ("a", "b", "c")]
    for d in dirs:
        d.mkdir()
    pairs = [(str(d), _print(d)) for d in dirs]
    assert _check(pairs) is None
    assert _check([]) is None
    before = os.stat(dirs[1])
    (dirs[1] / "new").write_text("")
    after = os.stat(dirs[1])
    assert (after.st_mtime_ns, after.st_ctime_ns) != (before.st_mtime_ns, before.st_ctime_ns)
    assert _check(pairs) == str(dirs[1])
    os.rmdir(dirs[2])
    assert _check([pairs[0], pairs[2]]) == str(dirs[2])
    # the recorded form differs only in the last digit of the ctime
    path, recorded = pairs[0]
    other = recorded[:-1] + str((int(recorded[-1]) + 1) % 10)
    assert _check([(path, other)]) == path


def test_check_dirs_formats_times_before_1970_as_python_does(backend, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    os.utime(old, ns=(-1_500_000_001, -1_500_000_001))
    assert ":-1500000001:" in _print(old)
    assert _check([(str(old), _print(old))]) is None


def test_check_dirs_refuses_what_is_not_pairs(backend, tmp_path):
    good = fsbatch.pack_dirs([(str(tmp_path), _print(tmp_path))])
    for bad in (good[:-1], good + "x\0", str(tmp_path) + "\0"):
        with pytest.raises(ValueError):
            fsbatch.check_dirs(bad)


def test_check_dirs_agrees_with_fsview_on_many_directories(backend):
    dirs = [d for d, _, _ in os.walk("/usr/share/zoneinfo")][:300]
    pairs = [(d, _print(d)) for d in dirs]
    assert _check(pairs) is None
    assert _check([*pairs, ("/nonexistent/dir", "m1:2:3:4")]) == "/nonexistent/dir"
    # a plan cache entry's form: everything else, and the directories in one string
    observations = [("d", d, p) for d, p in pairs] + [("l", "/usr", "T40000")]
    rest, packed = fsview.split_dirs(observations)
    assert rest == [("l", "/usr", "T40000")] and packed == fsbatch.pack_dirs(pairs)
    assert fsview.still_valid(rest, packed) is None
    assert fsview.still_valid(observations) is None
    assert fsview.still_valid(rest, fsbatch.pack_dirs([("/nonexistent/dir", "m1:2:3:4")])) \
        == "d /nonexistent/dir"


def test_check_dirs_started_answers_as_check_dirs_when_waited_for(backend, tmp_path):
    """The check begun in a thread of its own (C) gives check_dirs' answer once waited for,
    a change included; a malformed string is refused at once, before any thread starts."""
    dirs = [tmp_path / n for n in ("a", "b")]
    for d in dirs:
        d.mkdir()
    packed = fsbatch.pack_dirs([(str(d), _print(d)) for d in dirs])
    assert fsbatch.check_dirs_started(packed)() is None
    assert fsbatch.check_dirs_started("")() is None
    pending = fsbatch.check_dirs_started(packed.encode())
    (dirs[1] / "new").mkdir()  # may land before or after the stat: either answer is one
    assert pending() in (None, f"d {dirs[1]}")
    assert fsbatch.check_dirs_started(packed)() == f"d {dirs[1]}"
    with pytest.raises(ValueError):
        fsbatch.check_dirs_started(packed[:-1])
    # an odd number of strings: refused at once (Python) or from the answer (C, as it walks:
    # the pair before it is checked, nothing after)
    now = fsbatch.pack_dirs([(str(d), _print(d)) for d in dirs])
    for odd in ("a\0", now + "tail\0", "\0"):
        with pytest.raises(ValueError):
            fsbatch.check_dirs_started(odd)()


def test_check_dirs_started_checks_the_file_types_and_owners_first(backend, tmp_path):
    """The recorded file types and /proc owners are asked in the same thread, before the
    directories, and named as fsview.still_valid names them; a malformed question or a NUL
    is refused at once."""
    (tmp_path / "f").write_text("x")
    now = fsbatch.pack_dirs([(str(tmp_path), _print(tmp_path))])
    kinds = [("l", str(tmp_path / "f"), f"T{stat.S_IFREG:o}"),
             ("s", str(tmp_path), f"T{stat.S_IFDIR:o}"),
             ("o", f"/proc/{os.getpid()}/stat", "T")]
    assert fsbatch.check_dirs_started(now, kinds)() is None
    assert fsbatch.check_dirs_started("", kinds)() is None
    (tmp_path / "f").unlink()
    (tmp_path / "f").mkdir()  # the directory changed too: the file type is named first
    assert fsbatch.check_dirs_started(now, kinds)() == f"l {tmp_path / 'f'}"
    assert fsbatch.check_dirs_started(now, kinds[1:])() == f"d {tmp_path}"
    # past the kinds, the n-th directory is named (one C call answers both: its index counts on)
    (tmp_path / "g").mkdir()
    both = fsbatch.pack_dirs([(str(tmp_path / "g"), _print(tmp_path / "g")),
                              (str(tmp_path), "m1:2:3:4"), ("/nonexistent", "m1:2:3:4")])
    assert fsbatch.check_dirs_started(both, kinds[1:])() == f"d {tmp_path}"
    for bad in ([("x", "/", "T")], [("l", "/a\0b", "T")]):
        with pytest.raises(ValueError):
            fsbatch.check_dirs_started(now, bad)


def test_check_kinds_answers_as_fsview_does(backend, tmp_path):
    """File types (lstat, stat) and /proc owners, each answered as fsview.answer_now answers
    it: the same answer passes, any other is the change found first."""
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "dir")
    os.mkfifo(tmp_path / "fifo")
    paths = [str(tmp_path / n) for n in ("file", "dir", "link", "fifo", "missing",
                                         "file/below")] + ["/dev/null", "/"]
    gone = f"/proc/{_gone_pid()}"
    asked = [(q, p, "") for q in "ls" for p in paths]
    asked += [("o", f"/proc/{os.getpid()}", ""), ("o", "/proc/1", ""), ("o", gone, "T")]
    answers = [(q, p, fsview.answer_now(q, p, recorded)) for q, p, recorded in asked]
    assert {a for _, _, a in answers} >= {"T100000", "T40000", "T120000", "T10000", "T20000",
                                          f"E{errno.ENOENT}", f"E{errno.ENOTDIR}", "T"}
    assert answers[-1][2] == "T"  # a process gone is not a change (its grant is skipped)
    assert fsbatch.check_kinds(answers) is None
    assert fsbatch.check_kinds([]) is None
    for k, (q, p, a) in enumerate(answers[:-1]):  # (whatever was recorded for one gone)
        other = {"T": "F", "F": "T"}.get(a, a + "0")
        assert fsbatch.check_kinds([*answers[:k], (q, p, other), *answers[k + 1:]]) == k
    with pytest.raises(ValueError):
        fsbatch.check_kinds([("r", "/", "/")])
    with pytest.raises(ValueError):
        fsbatch.check_kinds([("l", "/us\0r", "T40000")])


def _gone_pid() -> int:
    import subprocess

    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.skipif(ll.abi_version() < 1, reason="no Landlock")
def test_add_path_rules_grants_what_the_kernel_then_enforces(backend, tmp_path):
    granted_dir, other_dir = tmp_path / "granted", tmp_path / "other"
    granted_dir.mkdir()
    other_dir.mkdir()
    (granted_dir / "in.txt").write_text("in")
    (other_dir / "out.txt").write_text("out")
    lone = other_dir / "lone.txt"
    lone.write_text("lone")
    plain = other_dir / "plain.txt"  # file rights only: added without asking its kind
    plain.write_text("plain")
    read = int(ll.AccessFs.READ_FILE | ll.AccessFs.READ_DIR)
    with ll.Ruleset(ll.AccessFs.READ_FILE | ll.AccessFs.READ_DIR | ll.AccessFs.WRITE_FILE,
                    ll.NO_NET, ll.NO_SCOPE) as ruleset:
        results = fsbatch.add_path_rules(
            [str(granted_dir), str(lone), str(tmp_path / "missing"), str(lone) + "/x",
             str(plain)],
            [read, read | int(ll.AccessFs.WRITE_FILE), read, read, int(ll.AccessFs.READ_FILE)],
            # a file keeps only file rights: READ_DIR on lone.txt must not make add_rule fail
            int(ll.FILE_RIGHTS & ~ll.AccessFs.WRITE_FILE), [ruleset.fd])
        ok = fsbatch.OPENED_REAL  # both loops: plain paths opened with no link on the way
        assert results == [ok, ok, -errno.ENOENT, -errno.ENOTDIR, ok]

        def child() -> int:
            set_no_new_privs()
            ruleset.restrict_self()
            outcome = 0
            for bit, path, mode in ((1, granted_dir / "in.txt", "r"), (2, lone, "r"),
                                    (4, other_dir / "out.txt", "r"), (8, lone, "a"),
                                    (16, plain, "r")):
                try:
                    open(path, mode).close()
                except PermissionError:
                    continue
                outcome |= bit
            return outcome

        # read granted beneath the directory and on the file; the write right was masked off
        assert in_child(child) == 1 | 2 | 16


@pytest.mark.skipif(ll.abi_version() < 1, reason="no Landlock")
def test_add_path_rules_tells_a_path_opened_through_a_link(backend, tmp_path):
    """No link is followed in any component (ELOOP, fixrt10: a link put into a grant's path
    after the plan was made); a plain path opened so is OPENED_REAL (its own real path), one
    spelt oddly is OPENED; both loops answer alike."""
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "f").write_text("f")
    (tmp_path / "link").symlink_to("real")
    (tmp_path / "dangling").symlink_to("nowhere")
    paths = [str(p) for p in (tmp_path / "real", tmp_path / "real" / "f", tmp_path / "link",
                              tmp_path / "link" / "f", tmp_path / "dangling")]
    # opened without a link, but not plain (files.plain_path): not their own real paths
    odd = [f"{tmp_path}/real/./f", f"{tmp_path}//real/f", f"{tmp_path}/real/", f"{tmp_path}/.",
           f"{tmp_path}/real/../real/f", f"{tmp_path}/real/..", "/"]
    assert not any(files.plain_path(p) for p in odd) and files.plain_path(paths[1])
    read = int(ll.AccessFs.READ_FILE)
    with ll.Ruleset(ll.AccessFs.READ_FILE, ll.NO_NET, ll.NO_SCOPE) as ruleset:
        results = fsbatch.add_path_rules(paths + odd, [read] * len(paths + odd),
                                         int(ll.FILE_RIGHTS), [ruleset.fd])
    real, loop = fsbatch.OPENED_REAL, -errno.ELOOP
    assert results == [real, real, loop, loop, loop] + [fsbatch.OPENED] * len(odd)


@pytest.mark.skipif(ll.abi_version() < 1, reason="no Landlock")
def test_prepare_vouches_only_for_grants_opened_without_a_link(backend, tmp_path):
    """prepare keeps the plain grants it opened (with no link on the way) as their own real
    paths; the supervisor's plan model built with them resolves every grant as it does
    unaided (a grant spelt oddly is still resolved; one through a link is refused: fixrt10)."""
    from stockade.enforce import prepare
    from stockade.enforce.plan.explain import LandlockModel
    from stockade.enforce.plan.types import EnforcementPlan, FsRule
    from stockade.enforce.supervisor.plan_guard import PlanGuard

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("f")
    read = ll.AccessFs.READ_FILE | ll.AccessFs.READ_DIR
    grants = [tmp_path / "d", tmp_path / "d" / "f", f"{tmp_path}/d/./f", tmp_path / "gone"]
    plan = EnforcementPlan(fs_rules=[FsRule(str(g), read, optional=True) for g in grants],
                           handled_fs=read)
    with prepare.prepare(plan) as prep:
        assert prep.real_paths == {str(tmp_path / "d"), str(tmp_path / "d" / "f")}
        abi = prep.landlock_abi
        guard = PlanGuard(prep.plan, abi, prep.real_paths)
        unaided = LandlockModel(plan, abi).rules
        assert guard.model.rules == unaided
        # the odd spelling: its real path, not its name
        assert [real for real, _ in unaided][2] == str(tmp_path / "d" / "f")


@pytest.mark.skipif(ll.abi_version() < 1, reason="no Landlock")
def test_add_path_rules_reports_a_refused_rule(backend, tmp_path):
    with ll.Ruleset(ll.AccessFs.READ_FILE, ll.NO_NET, ll.NO_SCOPE) as ruleset:
        # a right the ruleset does not handle: the kernel refuses the rule (EINVAL)
        with pytest.raises(OSError) as err:
            fsbatch.add_path_rules([str(tmp_path)], [int(ll.AccessFs.WRITE_FILE)],
                                   int(ll.FILE_RIGHTS), [ruleset.fd])
        assert err.value.errno == errno.EINVAL
        assert str(tmp_path) in str(err.value)


@pytest.mark.skipif(ll.abi_version() < 1, reason="no Landlock")
def test_add_path_rules_follows_no_link_in_any_component(backend, tmp_path):
    """A link anywhere on a granted path (last component or a parent) is ELOOP, never the
    link's target: the plan holds resolved paths (red team 10 swapped one in)."""
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    (tmp_path / "dirlink").symlink_to(tmp_path / "dir")
    read = int(ll.AccessFs.READ_FILE | ll.AccessFs.READ_DIR)
    with ll.Ruleset(ll.AccessFs.READ_FILE | ll.AccessFs.READ_DIR, ll.NO_NET,
                    ll.NO_SCOPE) as ruleset:
        results = fsbatch.add_path_rules(
            [str(tmp_path / "dirlink"), str(tmp_path / "dirlink" / "sub"),
             str(tmp_path / "dir" / "sub"), "/proc/self/cwd"],
            [read] * 4, int(ll.FILE_RIGHTS), [ruleset.fd])
    assert results[:2] == [-errno.ELOOP, -errno.ELOOP] and results[3] == -errno.ELOOP
    assert results[2] >= 0  # opened (how it was opened may be told apart: not a failure)


def test_a_directory_list_found_malformed_as_it_is_walked_is_a_miss(backend, tmp_path):
    """A plan cache entry whose directory list turns out malformed in the thread (C: found as
    it walks; Python: at once) is a miss, whatever else the entry held; nothing escapes."""
    from stockade.enforce.plan import cache

    key = {"k": 1}
    kinds = [["l", str(tmp_path), f"T{stat.S_IFDIR:o}"]]

    class Entry:
        def read(self, entry):
            body = {"key": key, "observations": kinds, "unpinned": [], "plan": None,
                    "coverage": None}
            return body, fsbatch.pack_dirs([(str(tmp_path), _print(tmp_path))]).encode() + b"x\0"

    pp, status, real = cache._load(Entry(), "e.json", key)
    assert pp is None and real == [] and status.startswith("miss"), status
