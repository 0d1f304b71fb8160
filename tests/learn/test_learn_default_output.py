"""`stockade learn -- CMD` without -o writes the profile where aa-genprof would name it
(`usr.bin.cat`), in ~/.config/stockade/profiles ($XDG_CONFIG_HOME; the current directory for a
user without a home), and says how to run it: `run -p` then enforces it on the real program
(and refuses what it never did)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from confine_helpers import NOBODY, Area, cli

from stockade.cli.learn import profile_file_name


def test_profile_file_name_is_aa_genprofs() -> None:
    # apparmor utils: get_new_profile_filename (leading / dropped, every / a .)
    assert profile_file_name("/usr/bin/tar") == "usr.bin.tar"
    assert profile_file_name("/opt/my tool/bin/x") == "opt.my tool.bin.x"


@pytest.mark.parametrize("user", ["root", "nobody"])
def test_learn_without_output_then_run_p(user: str, monkeypatch: pytest.MonkeyPatch) -> None:
    area = Area(owner=NOBODY if user == "nobody" else 0)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(area.root / "config"))
    try:
        work = area.allowed
        learned = cli("learn", "--", "cat", "file.txt", user=user, cwd=str(work), timeout=120)
        assert learned.returncode == 0, learned.stderr
        profile = area.root / "config" / "stockade" / "profiles" / "usr.bin.cat"
        assert profile.is_file(), sorted(os.listdir(work))
        assert oct(profile.parent.stat().st_mode & 0o777) == "0o700"
        assert f"stockade run -p {profile} -- cat file.txt" in learned.stderr
        assert cli("check", str(profile), user=user, cwd=str(work)).returncode == 0

        enforced = cli("run", "-p", str(profile), "--", "cat", "file.txt", user=user,
                       cwd=str(work))
        assert (enforced.returncode, enforced.stdout) == (0, "allowed data\n"), enforced.stderr
        refused = cli("run", "-p", str(profile), "--", "cat", str(area.secret), user=user,
                      cwd=str(work))
        assert refused.returncode == 1 and "Permission denied" in refused.stderr

        # learning again adds to it, as with -o: nothing new, the file is not touched
        before = profile.read_text()
        again = cli("learn", "--", "cat", "file.txt", user=user, cwd=str(work), timeout=120)
        assert again.returncode == 0 and profile.read_text() == before, again.stderr
    finally:
        area.cleanup()


def test_usage_names_o_as_optional(tmp_path: Path) -> None:
    out = cli("learn", cwd=str(tmp_path))
    assert out.returncode == 2 and "stockade learn [-o PROFILE] -- CMD" in out.stderr, out.stderr


def test_the_command_comment_is_quoted_as_a_shell_takes_it() -> None:
    """`learn -- ssh-keygen -N '' -f k` wrote `# from: ssh-keygen -N  -f k`: the empty
    passphrase argument was lost, and the line could not be run again as written."""
    import shlex

    from stockade.learn.genprof import render

    command = ["ssh-keygen", "-q", "-N", "", "-f", "./id test", "-C", "a\nb"]
    text = render("ssh-keygen", "/usr/bin/ssh-keygen", [], [], command=command)
    [line] = [ln for ln in text.splitlines() if ln.startswith("# from: ")]
    assert line == "# from: ssh-keygen -q -N '' -f './id test' -C 'a\\nb'"
    assert shlex.split(line[len("# from: "):])[:6] == command[:6]


def test_an_unwritable_profile_place_is_refused_before_the_program_runs() -> None:
    """As nobody in / (`learn -- CMD` writes ./usr.bin.CMD) the program ran in full and only
    then learn said `cannot open profile usr.bin.touch: Permission denied` (exit 125)."""
    area = Area(owner=NOBODY)
    try:
        marker = area.allowed / "ran"
        out = cli("learn", "--", "touch", str(marker), user="nobody", cwd="/")
        assert out.returncode == 2, out.stderr
        assert out.stderr == ("stockade learn: cannot write the profile usr.bin.touch: the "
                              "current directory / is not writable by this user (-o names "
                              "another place)\n")
        assert not marker.exists()
        elsewhere = cli("learn", "-o", str(area.root / "gone" / "p"), "--", "touch",
                        str(marker), user="nobody", cwd="/")
        assert elsewhere.returncode == 2 and "is not a directory" in elsewhere.stderr
        assert not marker.exists()
    finally:
        area.cleanup()


def test_an_existing_profile_this_user_cannot_write_is_a_usage_error() -> None:
    """`learn -o /etc/hostname` as nobody exited 125 (run's status for a failed start), not 2
    for bad input; a link is still refused as a link."""
    out = cli("learn", "-o", "/etc/hostname", "--", "true", user="nobody")
    assert (out.returncode, out.stderr) == (
        2, "stockade learn: cannot write the profile /etc/hostname: Permission denied\n")
    area = Area(owner=NOBODY)
    try:
        link = area.allowed / "link"
        link.symlink_to(area.allowed / "file.txt")
        os.lchown(link, NOBODY, NOBODY)
        linked = cli("learn", "-o", str(link), "--", "true", user="nobody")
        assert linked.returncode != 0 and "is a symbolic link" in linked.stderr, linked.stderr
    finally:
        area.cleanup()
