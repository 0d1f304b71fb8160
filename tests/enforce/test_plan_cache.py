"""The plan cache (enforce/plan/cache): a hit is the plan compiling afresh gives, every input
change misses, tampered or forged entries are refused, and a sandbox that could write the cache
neither uses nor feeds it. In-process tests as root; real `stockade run` as root and nobody."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import pytest
from confine_helpers import PRELUDE, PY, cli, uid_of

from stockade.enforce import landlock
from stockade.enforce.plan import cache as plan_cache
from stockade.enforce.plan import profile as planmod
from stockade.enforce.plan.cache import codec, store

pytestmark = pytest.mark.skipif(landlock.abi_version() < 1, reason="no Landlock")


def _plan_json(pp) -> str:
    return json.dumps({"plan": pp.plan.to_json(), "coverage": pp.coverage.to_json(),
                       "notes": pp.notes, "mode": pp.mode}, sort_keys=True)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    """A profile with an include from an -I directory and a glob over a directory here."""
    _keyring_or_skip()
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    inc = tmp_path / "inc"
    (inc / "abstractions").mkdir(parents=True)
    (inc / "abstractions" / "mine").write_text("/etc/hostname r,\n")
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("a")
    prof = tmp_path / "p.aa"
    prof.write_text(f"profile p {{\n  #include <abstractions/mine>\n  {data}/*.txt r,\n"
                    f"  /usr/** rix,\n}}\n")
    # directories changed less than 2 s ago are fingerprinted by their entries: age them
    old = 1_600_000_000
    for p in (data, inc, inc / "abstractions", tmp_path):
        os.utime(p, (old, old))
    return {"profile": str(prof), "inc": str(inc), "data": data, "tmp": tmp_path}


def _compile(t, **kw):
    return plan_cache.compile_file(t["profile"], [t["inc"]], None, **kw)


def _entry(t) -> Path:
    entries = list((t["tmp"] / "cache" / "stockade" / "plans").glob("*.json"))
    assert len(entries) == 1
    return entries[0]


def test_hit_is_the_plan_compiling_afresh_gives(tree, backend):
    first, how = _compile(tree)
    assert how.startswith("miss; stored")
    again, how = _compile(tree)
    assert how.startswith("hit")
    fresh = planmod.compile_file(tree["profile"], [tree["inc"]])
    assert _plan_json(again) == _plan_json(fresh) == _plan_json(first)
    assert again == fresh
    assert any(r.path.endswith("/a.txt") for r in again.plan.fs_rules)
    d = tree["tmp"] / "cache" / "stockade" / "plans"
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE(_entry(tree).stat().st_mode) == 0o600


def test_codec_round_trip_is_exact(tree):
    pp = planmod.compile_file(tree["profile"], [tree["inc"]])
    assert codec.plan_from_json(json.loads(json.dumps(codec.encode(pp)))) == pp
    with pytest.raises(codec.CodecError):
        codec.plan_from_json({"$c": "os.system", "f": {}})


def test_codec_tables_are_columns_of_shared_values_and_malformed_ones_are_refused(tree):
    """A table is stored column by column; a column of repeated plain values as each value
    once and positions (True and 1 kept apart). Any malformed column does not decode."""
    from stockade.enforce.plan.types import FsRule

    pp = planmod.compile_file(tree["profile"], [tree["inc"]])
    rules = [FsRule(f"/x/{i}", pp.plan.fs_rules[0].access, "s" if i % 2 else "t",
                    optional=bool(i % 3)) for i in range(10)]
    pp.plan.fs_rules = rules
    table = codec.encode(rules)
    assert set(table) == {"$L", "k", "t", "c"}
    paths, _, sources, optional, _ = table["c"]
    assert paths == [f"/x/{i}" for i in range(10)]
    assert sources["u"] == ["t", "s"] and optional["u"] == [False, True]
    assert codec.plan_from_json(json.loads(json.dumps(codec.encode(pp)))) == pp
    assert codec._column([True, 1, True, 1, True, 1]) == {"u": [True, 1], "i": [0, 1] * 3}
    assert codec._column_values({"u": [True, 1], "i": [0, 1]}) == [True, 1]
    for bad in ({"u": ["a"], "i": [1]}, {"u": ["a"], "i": [-1]}, {"u": ["a"], "i": [True]},
                {"u": [["a"]], "i": [0]}, {"u": ["a"], "i": [0], "x": 1}, {"u": "a", "i": [0]},
                "a"):
        broken = json.loads(json.dumps(table))
        broken["c"][2] = bad
        with pytest.raises(codec.CodecError):
            codec.decode(broken)
    short = json.loads(json.dumps(table))
    short["c"][0] = short["c"][0][:-1]
    with pytest.raises(codec.CodecError):
        codec.decode(short)


@pytest.mark.parametrize("change", ["profile", "include", "earlier-include", "glob-new",
                                    "glob-gone", "abi", "name-arg"])
def test_every_input_change_misses(tree, change, monkeypatch, backend):
    _compile(tree)
    assert _compile(tree)[1].startswith("hit")
    data, inc = tree["data"], Path(tree["inc"])
    name = None
    if change == "profile":
        text = Path(tree["profile"]).read_text().replace("/usr/** rix,", "/usr/** rix,\n  /opt/ r,")
        Path(tree["profile"]).write_text(text)
    elif change == "include":
        (inc / "abstractions" / "mine").write_text("/etc/passwd r,\n")
    elif change == "earlier-include":  # a file appears earlier in the search path
        earlier = tree["tmp"] / "earlier" / "abstractions"
        earlier.mkdir(parents=True)
        (earlier / "mine").write_text("/etc/passwd r,\n")
        pp, how = plan_cache.compile_file(tree["profile"], [str(earlier.parent), tree["inc"]],
                                          None)
        # another search path is another key; the same key must see the new file too:
        assert any(r.path == "/etc/passwd" for r in pp.plan.fs_rules)
        return
    elif change == "glob-new":
        (data / "b.txt").write_text("b")
    elif change == "glob-gone":
        (data / "a.txt").unlink()
    elif change == "abi":
        monkeypatch.setattr(landlock, "abi_version", lambda: 3)
    elif change == "name-arg":
        name = "p"
    pp, how = plan_cache.compile_file(tree["profile"], [tree["inc"]], name)
    assert how.startswith("miss"), how
    if change == "glob-new":  # found by the directory stats (a thread of their own in C)
        assert how.startswith(f"miss (changed: d {data})"), how
    fresh = planmod.compile_file(tree["profile"], [tree["inc"]], name,
                                 abi=3 if change == "abi" else None)
    assert _plan_json(pp) == _plan_json(fresh)
    paths = {r.path for r in pp.plan.fs_rules}
    if change == "glob-new":
        assert str(data / "b.txt") in paths
    if change == "glob-gone":
        assert str(data / "a.txt") not in paths
    if change == "include":
        assert "/etc/passwd" in paths


def test_new_file_in_an_earlier_search_directory_misses(tree):
    earlier = tree["tmp"] / "earlier"
    (earlier / "abstractions").mkdir(parents=True)
    dirs = [str(earlier), tree["inc"]]
    plan_cache.compile_file(tree["profile"], dirs, None)
    assert plan_cache.compile_file(tree["profile"], dirs, None)[1].startswith("hit")
    (earlier / "abstractions" / "mine").write_text("/etc/passwd r,\n")
    pp, how = plan_cache.compile_file(tree["profile"], dirs, None)
    assert how.startswith("miss"), how
    assert "/etc/passwd" in {r.path for r in pp.plan.fs_rules}


def _widen(body: dict) -> None:
    paths = body["plan"]["f"]["plan"]["f"]["fs_rules"]["c"][0]  # the column of paths
    paths[0] = "/"  # the first grant now covers the whole filesystem


def test_tampered_entry_is_refused_and_recomputed(tree):
    _compile(tree)
    path = _entry(tree)
    head, _, raw = path.read_bytes().partition(b"\n")
    body = json.loads(raw)
    _widen(body)
    path.write_bytes(head + b"\n" + json.dumps(body).encode())
    pp, how = _compile(tree)
    assert how.startswith("refused entry"), how
    assert "/" not in {r.path for r in pp.plan.fs_rules}
    assert _plan_json(pp) == _plan_json(planmod.compile_file(tree["profile"], [tree["inc"]]))
    assert _compile(tree)[1].startswith("hit")  # stored again, authentic


def test_entry_keeps_the_directories_after_its_json_and_a_changed_byte_is_refused(tree):
    """The directory fingerprints follow the JSON object after a NUL (no JSON string to
    unescape on a hit); the MAC covers them: one byte changed there is refused too."""
    prof = tree["tmp"] / "walk.aa"  # a glob that lists a system directory (settled times)
    prof.write_text("profile w {\n  /usr/share/zoneinfo/*/ r,\n}\n")
    assert plan_cache.compile_file(str(prof), [], None)[1].startswith("miss; stored")
    path = _entry(tree)
    data = path.read_bytes()
    head, _, body = data.partition(b"\n")
    text, nul, blob = body.partition(b"\0")
    assert nul and b"/usr/share/zoneinfo\0m" in blob and b'"dirs"' not in text
    json.loads(text)
    assert plan_cache.compile_file(str(prof), [], None)[1].startswith("hit")
    at = blob.index(b"\0m") + 2  # the first fingerprint's first digit
    changed = blob[:at] + bytes([blob[at] ^ 1]) + blob[at + 1:]
    path.write_bytes(head + b"\n" + text + b"\0" + changed)
    assert plan_cache.compile_file(str(prof), [], None)[1].startswith("refused entry")


def test_entry_forged_with_another_key_is_refused(tree):
    _compile(tree)
    path = _entry(tree)
    body = json.loads(path.read_bytes().partition(b"\n")[2])
    _widen(body)
    raw = json.dumps(body).encode()
    mac = hashlib.blake2b(raw, digest_size=32, key=os.urandom(32)).hexdigest().encode()
    path.write_bytes(store.HEADER + mac + b"\n" + raw)
    assert _compile(tree)[1].startswith("refused entry")


def test_entry_as_symlink_or_directory_not_private_is_refused(tree):
    _compile(tree)
    path = _entry(tree)
    target = tree["tmp"] / "elsewhere.json"
    target.write_bytes(path.read_bytes())
    path.unlink()
    path.symlink_to(target)
    assert _compile(tree)[1].startswith("refused entry")
    d = path.parent
    os.chmod(d, 0o755)
    assert "not a private directory" in _compile(tree)[1]
    os.chmod(d, 0o700)


def test_writable_grant_over_the_cache_disables_it(tree):
    directory = plan_cache.cache_dir()
    cache_root = str(tree["tmp"] / "cache")

    def exposed_by(grant: str):
        def exposed(pp):
            from stockade.enforce.plan.types import EnforcementPlan, FsRule

            extra = EnforcementPlan(fs_rules=[FsRule(grant, landlock.AccessFs.WRITE_FILE
                                                     | landlock.AccessFs.MAKE_REG)],
                                    handled_fs=landlock.NO_FS)
            return plan_cache.exposure(directory, pp.plan.merged(extra))
        return exposed

    _compile(tree)
    for grant in (cache_root, directory, directory + "/x.json"):
        _pp, how = _compile(tree, exposed=exposed_by(grant))
        assert how.startswith("not used"), (grant, how)
    assert _compile(tree, exposed=exposed_by(str(tree["data"])))[1].startswith("hit")


def test_no_cache_flag_bypasses(tree):
    assert _compile(tree, use_cache=False)[1] == "off (--no-cache)"
    assert not (tree["tmp"] / "cache" / "stockade" / "plans").exists()


def test_observations_below_proc_pids_are_not_recorded():
    from stockade import fsview

    with fsview.recording() as log:
        fsview.lexists("/proc/1/status")
        fsview.realpath("/proc/self/status")
        fsview.lexists("/proc/meminfo")
        with fsview.scandir("/proc"):
            pass
    assert [o[1] for o in log] == ["/proc/meminfo", "/proc"]
    assert log[1][2].startswith("h")  # procfs: by its entries, the process ones left out


# -- real runs ------------------------------------------------------------------------------

def _keyring_or_skip() -> None:
    from stockade.enforce.plan.cache import keyring

    if keyring.key(create=True) is None:
        pytest.skip("no kernel keyring here (the plan cache is off)")


def _cache_env(area, user: str, monkeypatch) -> dict[str, str]:
    """XDG_CACHE_HOME for the runs: a directory of `user`'s (cli passes os.environ on), and
    XDG_RUNTIME_DIR (nobody's; without one no run learns of keyring marks: the cache is off)."""
    home = area.root / "cache"
    home.mkdir(mode=0o755)
    os.chown(home, uid_of(user), uid_of(user))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    runtime = area.root / "run"
    runtime.mkdir(mode=0o700)
    os.chown(runtime, uid_of(user), uid_of(user))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    return {"XDG_CACHE_HOME": str(home)}


def _area_profile(area, user: str) -> str:
    prof = area.root / "p.aa"
    prof.write_text(f"profile p {{\n  /usr/** rix,\n  /etc/** r,\n  /dev/null rw,\n"
                    f"  {area.allowed}/** rw,\n}}\n")
    os.chmod(prof, 0o644)
    return str(prof)


def test_run_hits_and_the_hit_confines_the_same(area, user, monkeypatch):
    _keyring_or_skip()
    _cache_env(area, user, monkeypatch)
    prof = _area_profile(area, user)
    code = (f"attempt(lambda: open('{area.allowed}/file.txt').read())\n"
            f"attempt(lambda: open('{area.secret}').read())\n")
    outs = []
    for _ in range(2):
        r = cli("run", "-v", "-p", prof, "--", PY, "-c", PRELUDE + code, user=user)
        assert r.returncode == 0, r.stderr
        outs.append((r.stdout, [ln for ln in r.stderr.splitlines() if "plan cache" in ln]))
    assert "miss; stored" in outs[0][1][0] and "hit" in outs[1][1][0]
    assert outs[0][0] == outs[1][0] == "OK\nEACCES\n"


def test_sandbox_cannot_poison_the_cache(area, user, monkeypatch):
    """From inside `run -p`: the cache directory is not writable (Landlock) and the keyring
    that holds the key is refused (seccomp); a later run still hits the authentic entry."""
    _keyring_or_skip()
    env = _cache_env(area, user, monkeypatch)
    prof = _area_profile(area, user)
    cli("run", "-p", prof, "--", "/bin/true", user=user)
    plans = Path(env["XDG_CACHE_HOME"]) / "stockade" / "plans"
    entry = next(plans.glob("*.json"))
    from stockade.enforce.seccomp import resolve_syscall

    code = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
attempt(lambda: open('{entry}', 'w').write('x'))
attempt(lambda: open('{plans}/new.json', 'w'))
attempt(lambda: os.rename('{entry}', '{area.allowed}/stolen'))
def keyctl():
    if libc.syscall({resolve_syscall("keyctl")}, 10, -4, b"user", b"stockade:plan-cache:v1", 0) < 0:
        raise OSError(ctypes.get_errno(), "keyctl")
attempt(keyctl)
"""
    r = cli("run", "-p", prof, "--", PY, "-c", PRELUDE + code, user=user)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[:3] == ["EACCES", "EACCES", "EACCES"] and lines[3] in ("EPERM", "ENOSYS")
    r = cli("run", "-v", "-p", prof, "--", "/bin/true", user=user)
    assert "plan cache: hit" in r.stderr


def test_run_with_a_writable_grant_over_the_cache_does_not_use_it(area, user, monkeypatch):
    _keyring_or_skip()
    env = _cache_env(area, user, monkeypatch)
    prof = _area_profile(area, user)
    cli("run", "-p", prof, "--", "/bin/true", user=user)
    r = cli("run", "-v", "-p", prof, "--rw", env["XDG_CACHE_HOME"], "--", "/bin/true",
            user=user)
    assert r.returncode == 0, r.stderr
    assert "plan cache: not used" in r.stderr and "lies inside the writable grant" in r.stderr


def test_run_that_allows_the_keyring_drops_the_key(area, user, monkeypatch):
    _keyring_or_skip()
    _cache_env(area, user, monkeypatch)
    prof = _area_profile(area, user)
    cli("run", "-p", prof, "--", "/bin/true", user=user)
    r = cli("run", "-v", "--allow-keyring", "-p", prof, "--", "/bin/true", user=user)
    assert "plan cache: not used" in r.stderr and "keyring" in r.stderr
    r = cli("run", "-v", "-p", prof, "--", "/bin/true", user=user)
    assert "plan cache: refused entry" in r.stderr  # made with the dropped key


def test_the_compiler_asks_the_filesystem_only_through_fsview():
    """A new direct filesystem call in the compile path would not be re-checked on a hit (a
    stale plan): every one goes through stockade.fsview, except reading a policy file, whose
    bytes are noted (fsview.note_content), the command-level checker and lint's packaged data
    (neither is part of compiling)."""
    import re

    src = Path(__file__).resolve().parents[2] / "src" / "stockade"
    call = re.compile(r"os\.(scandir|listdir|lstat|stat|open|readlink|walk|fstat|read|access)\("
                      r"|os\.path\.(exists|lexists|isdir|isfile|islink|realpath|getsize)\("
                      r"|(?<![.\w])open\(|\.read_text\(|\.read_bytes\(|\.iterdir\(")
    files = [*(src / "policy").glob("*.py"), src / "enforce" / "defaults.py",
             *(p for p in (src / "enforce" / "plan").glob("*.py")
               if p.name not in ("explain.py", "records.py"))]
    found = {(p.name, m.group(0)) for p in files
             for line in p.read_text().splitlines() if not line.lstrip().startswith("#")
             for m in call.finditer(line)}
    assert found == {("includes.py", "os.stat("), ("includes.py", "os.open("),
                     ("includes.py", "os.fstat("), ("includes.py", "os.read("),
                     ("checker.py", "os.path.isdir("), ("checker.py", "os.listdir("),
                     ("checker.py", "os.path.isfile("), ("lint.py", ".read_text(")}


def test_keyring_reachable_follows_the_seccomp_rules():
    from stockade.enforce import defaults

    plan = defaults.adhoc_plan(["/etc"], [], ["/usr"], [])
    assert not plan_cache.keyring_reachable(plan)
    plan.seccomp_rules = defaults.without_keyring(plan.seccomp_rules)
    assert plan_cache.keyring_reachable(plan)


def test_a_question_answered_twice_differently_is_not_cached(tmp_path):
    from stockade import fsview

    f = tmp_path / "x"
    with fsview.recording():
        fsview.lexists(str(f))
        f.write_text("now here")
        fsview.lexists(str(f))
        moved = fsview.unstable()
    assert moved == f"changed while compiling: l {f}"
    with fsview.recording():
        fsview.lexists(str(f))
        fsview.lexists(str(f))
        assert fsview.unstable() is None


def test_owner_rules_in_proc_are_cached_and_a_reused_pid_misses(tree):
    """An `owner` rule's /proc/PID grants depend on who owns which process: the entry records
    each owner answer; a hit keeps this user's processes and leaves out another user's, a
    process that has exited is no change, and a pid whose owner is now on the other side of
    the test (pid reuse) misses."""
    import subprocess
    import time

    from stockade import fsview

    if os.geteuid() != 0:
        pytest.skip("needs a process of another user")
    other = subprocess.Popen(["/bin/sleep", "30"], user=65534)
    try:
        for _ in range(100):  # the kernel gives /proc/PID the new uid after setuid
            if os.stat(f"/proc/{other.pid}").st_uid == 65534:
                break
            time.sleep(0.01)
        prof = tree["tmp"] / "owner.aa"
        prof.write_text("profile o {\n  owner /proc/[0-9]*/stat r,\n}\n")
        first, how = plan_cache.compile_file(str(prof), [], None)
        assert how.startswith("miss; stored"), how
        hit, how = plan_cache.compile_file(str(prof), [], None)
        assert how.startswith("hit"), how
        granted = {r.path for r in hit.plan.fs_rules}
        assert granted == {r.path for r in first.plan.fs_rules}
        assert f"/proc/{os.getpid()}/stat" in granted
        assert f"/proc/{other.pid}/stat" not in granted
        # what the entry says about the other user's process, and about one of ours
        assert fsview.still_valid([("o", f"/proc/{other.pid}/stat", "F")]) is None
        assert fsview.still_valid([("o", f"/proc/{other.pid}/stat", "T")]) == \
            f"o /proc/{other.pid}/stat"
        assert fsview.still_valid([("o", f"/proc/{os.getpid()}/stat", "F")]) is not None
        gone = subprocess.Popen(["/bin/true"])
        gone.wait()
        assert fsview.still_valid([("o", f"/proc/{gone.pid}/stat", "T")]) is None
    finally:
        other.kill()
        other.wait()


def test_program_is_part_of_the_key_and_transitions_survive_a_hit(tree):
    """A file of several profiles: the program picks the profile (and is granted), and a
    profile's px/cx transitions, which `run` refuses, come back from the cache too."""
    prof = tree["tmp"] / "two.aa"
    prof.write_text("/usr/bin/true {\n  /usr/bin/false px,\n}\n"
                    "/usr/bin/env {\n  /etc/hostname r,\n}\n")
    first, _ = plan_cache.compile_file(str(prof), [], None, program="/usr/bin/true")
    hit, how = plan_cache.compile_file(str(prof), [], None, program="/usr/bin/true")
    assert how.startswith("hit"), how
    assert hit.transitions and hit.transitions == first.transitions
    other, how = plan_cache.compile_file(str(prof), [], None, program="/usr/bin/env")
    assert not how.startswith("hit") and other.plan.name != hit.plan.name


def test_grants_shown_real_by_the_recorded_answers_skip_resolution(tree, monkeypatch):
    """A hit vouches for the grants whose every component the recorded answers showed not to
    be a link (files.vouch_real): the supervisor's plan model then resolves to the same real
    paths as without it. A grant with a component no recorded answer covers is not vouched,
    nor a link."""
    from stockade import files, fsview
    from stockade.enforce.plan.explain import LandlockModel

    monkeypatch.setattr(files, "_vouched", set())
    with fsview.recording() as observations:
        pp = planmod.compile_file(tree["profile"], [tree["inc"]])
    paths = [r.path for r in pp.plan.fs_rules]
    a_txt = paths.index(str(tree["data"] / "a.txt"))
    assert a_txt not in plan_cache.unpinned(pp, observations)
    # it was shown by its lstat (the walk's step) and its directory's listing
    for left_out in (("l", str(tree["data"] / "a.txt")), ("d", str(tree["data"]))):
        assert left_out in {o[:2] for o in observations}
    without = [o for o in observations if o[:2] not in
               {("l", str(tree["data"] / "a.txt")), ("d", str(tree["data"]))}]
    assert a_txt in plan_cache.unpinned(pp, without)
    # a link in the grant's place: not its own real path, whatever was recorded
    link = tree["tmp"] / "link.txt"
    link.symlink_to(tree["data"] / "a.txt")
    pp.plan.fs_rules.append(type(pp.plan.fs_rules[0])(str(link), pp.plan.fs_rules[a_txt].access))
    assert len(paths) in plan_cache.unpinned(pp, observations)
    pp.plan.fs_rules.pop()

    fresh_rules = LandlockModel(pp.plan, landlock.abi_version()).rules
    _compile(tree)
    hit, how = _compile(tree)
    assert how.startswith("hit"), how
    assert str(tree["data"] / "a.txt") in files._vouched
    assert str(link) not in files._vouched
    assert LandlockModel(hit.plan, landlock.abi_version()).rules == fresh_rules
