"""Red team 13, the SELinux importer and the module stack's policy (rt/setools_helper_user_site_pth.sh,
rt/selinux_helper_tmp_dump_swapped.sh, rt/selinux_dump_swapped_between_policies.sh,
rt/module_policy_rewritten_by_its_program.sh): each test failed before its fix; they run the
real `stockade` command line and real sandboxes, as root and as nobody where that is possible."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from confine_helpers import NOBODY, REPO, STOCKADE, cli, uid_of

SELINUX_POLICY = "/etc/selinux/default/policy/policy.33"
MINI_CIL = str(REPO / "tests/selinux/data/mini.cil")


def _needs_binary_policy() -> None:
    if not os.path.exists(SELINUX_POLICY):
        pytest.skip("Debian's selinux-policy-default is not installed")
    if subprocess.run(["/usr/bin/python3", "-c", "import setools"], capture_output=True,
                      check=False).returncode != 0:
        pytest.skip("python3-setools is not installed")


def _owned_dir(path: Path, user: str, mode: int = 0o700) -> Path:
    path.mkdir(mode=mode)
    os.chown(path, uid_of(user), uid_of(user))
    return path


def _fresh_user_dirs(area, user: str, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private HOME, XDG_CACHE_HOME (no dump cached yet) and XDG_RUNTIME_DIR of `user`'s
    under the area; HOME is returned."""
    home = _owned_dir(area.root / "home", user)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(_owned_dir(area.root / "cache", user)))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(_owned_dir(area.root / "run", user)))
    return home


def _selinux_run(user: str, policy: str = SELINUX_POLICY) -> subprocess.CompletedProcess[str]:
    """`run --mode enforce --lsm selinux` of /usr/bin/true: the policy refuses it (126), the
    launcher's context not being one of the policy's domains."""
    return cli("run", "--mode", "enforce", "--lsm", "selinux", "--module-option",
               f"selinux.policy_paths={json.dumps([policy])}", "--rx", "/", "--",
               "/usr/bin/true", user=user, timeout=240)


@pytest.fixture(scope="module")
def permissive_dump() -> dict[str, object]:
    """Debian's policy dumped with every type permissive (made once: a dump takes seconds)."""
    _needs_binary_policy()
    from stockade.modules.selinux.importer import dump_policy

    dump = dump_policy(SELINUX_POLICY, use_cache=False)
    for t in dump["types"]:
        t[2] = True
    return dump


def _as(user: str) -> dict[str, object]:
    return {"user": NOBODY, "group": NOBODY, "extra_groups": []} if user == "nobody" else {}


def test_setools_helper_runs_no_pth_a_sandbox_planted(area, user, monkeypatch):
    """The importer ran `/usr/bin/python3 setools_dump.py` plainly from the unconfined
    launcher: that interpreter ran the *.pth files of the user site directory, which a plain
    `run --rx / --rw ~/.local` sandbox may write (`--rw ~` itself is refused since: it may
    write the profile store). It runs isolated now (-I -S, no environment)."""
    _needs_binary_policy()
    home = _fresh_user_dirs(area, user, monkeypatch)
    marker = area.allowed / "ran"
    site = subprocess.run(["/usr/bin/python3", "-c", "import site; print(site.getusersitepackages())"],
                          capture_output=True, text=True, check=True,
                          env={"HOME": str(home)}).stdout.strip()
    pth = area.root / "planted.pth"
    pth.write_text(f"import os; open({str(marker)!r}, 'a').write('ran %d\\n' % os.getuid())\n")
    os.chmod(pth, 0o644)
    local = _owned_dir(home / ".local", user)
    res = cli("run", "--rx", "/", "--rw", str(local), "--", "/bin/sh", "-c",
              f"mkdir -p {site} && cp {pth} {site}/zz-planted.pth", user=user)
    assert res.returncode == 0, res.stderr
    # control: the plant works on a plain start of the system Python with this HOME
    subprocess.run(["/usr/bin/python3", "-c", "pass"], env={"HOME": str(home)}, cwd="/",
                   check=True, **_as(user))  # type: ignore[arg-type]
    assert marker.exists(), "the planted .pth does not run: the test shows nothing"
    marker.unlink()
    res = _selinux_run(user)
    assert res.returncode == 126, res.stderr
    assert not marker.exists(), f"the unconfined launcher's helper ran the .pth: {marker.read_text()}"


def test_a_grant_over_what_the_setools_helper_imports_is_refused(user):
    """own_code judged the launcher's sys.path only: a grant inside the directory the helper
    imports SETools from (not on a venv's sys.path) was accepted. (Nothing is written: the
    run is refused before its program starts, or runs /usr/bin/true.)"""
    _needs_binary_policy()
    res = cli("run", "--rx", "/", "--rw", "/usr/lib/python3/dist-packages/setools", "--",
              "/usr/bin/true", user=user)
    assert res.returncode == 125, res.stderr
    assert "the launcher's own code /usr/lib/python3/dist-packages" in res.stderr, res.stderr


SWAP = """
import glob, os, sys, time
tmp = sys.argv[1]
print('ready', flush=True)
deadline = time.time() + 200
while time.time() < deadline and not os.path.exists(tmp + '/stop'):
    for out in glob.glob(tmp + '/stockade-sepol-*/dump.json'):
        os.rename(tmp + '/forged.json', out)
        print('swapped', out, flush=True)
        sys.exit(0)
    time.sleep(0.002)
"""


def test_selinux_dump_passes_through_no_file_a_sandbox_may_swap(area, user, monkeypatch,
                                                                 permissive_dump):
    """The helper wrote its dump to $TMPDIR/stockade-sepol-*/dump.json and the launcher read it
    back by name: a concurrent `run --rw $TMPDIR` sandbox renamed a forged dump (every type
    permissive) over it and the run (and, from the cache, every later one) was decided by it.
    The dump comes through the helper's stdout now."""
    _fresh_user_dirs(area, user, monkeypatch)
    tmp = _owned_dir(area.root / "tmp", user)
    monkeypatch.setenv("TMPDIR", str(tmp))
    (tmp / "forged.json").write_text(json.dumps(permissive_dump))
    os.chown(tmp / "forged.json", uid_of(user), uid_of(user))
    swapper = subprocess.Popen(
        [*STOCKADE, "run", "--rx", "/", "--rw", str(tmp), "--", "/usr/bin/python3", "-c", SWAP,
         str(tmp)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd="/",
        env={**os.environ, "PYTHONPATH": str(REPO / "src")}, **_as(user))  # type: ignore[call-overload]
    try:
        assert swapper.stdout is not None
        assert swapper.stdout.readline().strip() == "ready", swapper.stderr.read()
        res = _selinux_run(user)
    finally:
        (tmp / "stop").touch()
        out, _ = swapper.communicate(timeout=60)
    assert "swapped" not in out, out
    assert res.returncode == 126, res.stderr
    assert not list(tmp.glob("stockade-sepol-*")), "the helper left a dump in $TMPDIR"


def test_another_policys_cached_dump_is_not_taken(area, user, monkeypatch, permissive_dump):
    """The dump cache authenticated each entry's body but not the policy it is the dump of: a
    sandbox with a grant over ~/.cache copied another policy's authentic (permissive) dump over
    the strict policy's entry and the strict policy's refusal was gone. (As root: the test
    writes the other entry with the user's key, which only root's own keyring holds here.)"""
    if user == "nobody":
        pytest.skip("the other entry is written with root's key (rt/selinux_dump_swapped_"
                    "between_policies.sh shows nobody's case)")
    from stockade.enforce.plan.cache.dumps import open_cache
    from stockade.modules.selinux import setools_dump

    _fresh_user_dirs(area, "root", monkeypatch)
    assert _selinux_run("root").returncode == 126
    entries = list((area.root / "cache").glob("stockade/selinux-dumps/*.json"))
    cache = open_cache()
    if len(entries) != 1 or cache is None:
        pytest.skip("the dump cache is off here (no keyring, or another run's keyring mark)")
    try:  # what a run with another (permissive) policy would have cached
        cache.save("other-v2.json", permissive_dump, {"policy_sha256": "0" * 64,
                                            "format": setools_dump.FORMAT})
    finally:
        cache.close()
    res = cli("run", "--rx", "/", "--rw", str(area.root / "cache"), "--", "/bin/cp",
              str(entries[0].parent / "other-v2.json"), str(entries[0]))
    assert res.returncode == 0, res.stderr
    res = _selinux_run("root")
    assert res.returncode == 126, "another policy's dump decided: " + res.stderr


def _box(area, user: str) -> Path:
    return _owned_dir(area.root / "box", user, 0o755)


@pytest.mark.parametrize("module", ["selinux", "apparmor"])
def test_a_run_that_may_write_its_module_policy_is_refused(area, user, module):
    """`--module-option` named policy files a run's grants could write (selinux.policy_paths,
    apparmor.profiles): the run was accepted and its program rewrote the policy of every later
    run. They are among the inputs `run` judges now, by the profile inputs' test."""
    box = _box(area, user)
    if module == "selinux":
        policy = box / "mini.cil"
        policy.write_text(Path(MINI_CIL).read_text())
        option = f"selinux.policy_paths={json.dumps([str(policy)])}"
    else:
        policy = box / "p.aa"
        policy.write_text("profile p /usr/bin/sh {\n  /usr/** rix,\n}\n")
        option = f"apparmor.profiles={json.dumps([str(policy)])}"
    os.chown(policy, uid_of(user), uid_of(user))
    before = policy.read_text()
    res = cli("run", "--mode", "enforce", "--lsm", module, "--module-option", option,
              "--rx", "/", "--rw", str(box), "--", "/usr/bin/sh", "-c", f"echo widened >> {policy}",
              user=user, timeout=120)
    assert res.returncode == 125, res.stderr
    assert f"the module policy's input {policy}" in res.stderr, res.stderr
    assert policy.read_text() == before
    # the same run writing beside the policy's directory is not refused for it
    res = cli("run", "--mode", "enforce", "--lsm", module, "--module-option", option,
              "--rx", "/", "--rw", str(area.allowed), "--", "/usr/bin/true", user=user, timeout=120)
    assert "the module policy's input" not in res.stderr, res.stderr


def test_an_apparmor_module_profiles_include_in_a_grant_is_refused(area, user):
    """What apparmor.profiles include counts as their files do (the same loader as `run -p`'s
    inputs): a profile kept out of the grant that includes a file inside it is refused."""
    box = _box(area, user)
    inc = box / "inc"
    inc.write_text("/etc/** r,\n")
    profile = area.root / "p.aa"
    profile.write_text(f'profile p /usr/bin/sh {{\n  #include "{inc}"\n  /usr/** rix,\n}}\n')
    for p in (inc, profile):
        os.chmod(p, 0o644)
    res = cli("run", "--mode", "enforce", "--lsm", "apparmor", "--module-option",
              f"apparmor.profiles={json.dumps([str(profile)])}", "--rx", "/", "--rw", str(box),
              "--", "/usr/bin/true", user=user, timeout=120)
    assert res.returncode == 125, res.stderr
    assert f"the module policy's input {inc}" in res.stderr, res.stderr


INIT_POLICY = "/usr/lib/tomoyo/init_policy"


def test_a_tomoyo_domain_that_may_append_to_its_policy_is_refused(area, user, monkeypatch):
    """A TOMOYO domain allowed to append to its own domain_policy.conf (a Landlock grant from
    the policy itself) was accepted and widened every later run's policy."""
    if not os.path.exists(INIT_POLICY):
        pytest.skip("tomoyo-tools is not installed")
    _fresh_user_dirs(area, user, monkeypatch)
    pol = _box(area, user)
    base = area.root / "base"
    subprocess.run([INIT_POLICY, f"policy_dir={base}"], check=True, capture_output=True)
    for name in ("profile", "manager", "exception_policy"):
        (pol / f"{name}.conf").write_text((base / f"{name}.conf").read_text())
    with open(pol / "exception_policy.conf", "a") as f:
        f.write("acl_group 0 misc env \\*\n")
    domain = pol / "domain_policy.conf"
    domain.write_text(
        "<kernel>\nuse_profile 0\nuse_group 0\n\n<kernel> /usr/bin/sh\nuse_profile 3\n"
        "use_group 0\nfile execute /usr/bin/sh\nfile read /usr/bin/dash\n"
        "file read /etc/ld.so.cache\nfile read /usr/lib/x86_64-linux-gnu/libc.so.6\n"
        f"file append {domain}\n")
    for p in pol.glob("*.conf"):
        os.chmod(p, 0o666)
    before = domain.read_text()
    res = cli("run", "--mode", "enforce", "--lsm", "capability,tomoyo", "--module-option",
              f"tomoyo.policy_dir={pol}", "--", "/usr/bin/sh", "-c",
              f"echo 'file write /etc/shadow' >> {domain}", user=user, timeout=120)
    assert res.returncode == 125, res.stderr
    assert f"the module policy's input {pol}" in res.stderr, res.stderr
    assert domain.read_text() == before
