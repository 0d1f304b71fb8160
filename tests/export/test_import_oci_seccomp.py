"""`stockade import --from oci-seccomp`: Podman's default seccomp profile (the Debian package
golang-github-containers-common) imports, exports back, and runc gives every native system
call the same answer with the round trip as with the original."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stockade.enforce import seccomp as sc
from stockade.export.importers import oci_seccomp as imp

from .conftest import Bundle, stockade

DEFAULT = Path("/usr/share/containers/seccomp.json")
#: Calls the sweep must not make with junk arguments: they end, fork or stop the probe.
UNSAFE = ("exit", "exit_group", "rt_sigreturn", "pause", "rt_sigsuspend", "fork", "vfork",
          "clone", "clone3", "restart_syscall")
#: x86_64 numbers of calls newer than libseccomp 2.5 that must not be made outside a probe
#: trampoline (they kill the caller).
UNSAFE_NEW = (335, 336)  # uretprobe, uprobe
LAST_NR = 470
#: Argument-dependent entries of the default profile, tried with the arguments that matter.
TARGETED = [("personality", "0"), ("personality", "8"), ("personality", "0x20000"),
            ("personality", "0xffffffff"), ("personality", "0x1"),
            ("socket", "2 1 0"), ("socket", "16 3 9"), ("socket", "16 3 0"),
            ("socket", "17 3 0")]


def podman_resolve(data: dict[str, Any], caps: tuple[str, ...]) -> dict[str, Any]:
    """The OCI object Podman builds from the Docker-format file for amd64 (the oracle;
    written from containers/common's documented includes/excludes semantics)."""
    have = {f"CAP_{c}" for c in caps}
    out: dict[str, Any] = {"defaultAction": data["defaultAction"],
                           "defaultErrnoRet": data.get("defaultErrnoRet"),
                           "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86",
                                             "SCMP_ARCH_X32"], "syscalls": []}
    for entry in data["syscalls"]:
        inc, exc = entry.get("includes") or {}, entry.get("excludes") or {}
        if inc.get("arches") and "amd64" not in inc["arches"]:
            continue
        if not set(inc.get("caps") or []) <= have or set(exc.get("caps") or []) & have:
            continue
        keep = {k: entry[k] for k in ("names", "action", "errnoRet", "args") if entry.get(k)}
        out["syscalls"].append(keep)
    return out


def _sweep(b: Bundle, seccomp: dict[str, Any]) -> list[str]:
    b.config["linux"]["seccomp"] = seccomp
    skip = " ".join([str(sc.resolve_syscall(n)) for n in UNSAFE if _nr_or_none(n) is not None]
                    + [str(n) for n in UNSAFE_NEW])
    cmds = [f"/bin/probe --sweep 0 {LAST_NR} 0xffffffffffffffff {skip}"]
    cmds += [f"echo {name} {args}: $(/bin/probe {sc.resolve_syscall(name)} {args})"
             for name, args in TARGETED]
    res = b.run("/bin/sh", "-c", "; ".join(cmds))
    assert res.returncode == 0, res.stderr
    return res.stdout.splitlines()


def _nr_or_none(name: str) -> int | None:
    try:
        nr = sc.resolve_syscall(name)
    except KeyError:
        return None
    return nr if nr >= 0 else None


@pytest.fixture
def podman_default() -> dict[str, Any]:
    if not DEFAULT.exists():
        pytest.skip("needs golang-github-containers-common")
    return json.loads(DEFAULT.read_text())


def test_default_caps_come_from_containers_conf() -> None:
    if not Path(imp.CONTAINERS_CONF[1]).exists():
        pytest.skip("needs golang-github-containers-common")
    assert "CHOWN" in imp.default_caps() and "SYS_ADMIN" not in imp.default_caps()


def test_round_trip_gives_every_call_the_same_answer(
        tmp_path: Path, podman_default: dict[str, Any], bundle: Callable[[], Bundle]) -> None:
    prof = tmp_path / "podman-default"
    res = stockade("import", "--from", "oci-seccomp", str(DEFAULT), "-o", str(prof))
    assert res.returncode == 0, res.stderr
    exported = tmp_path / "rt.json"
    res = stockade("export", "--format", "oci-seccomp", "-o", str(exported), str(prof))
    assert res.returncode == 0, res.stderr
    oracle = podman_resolve(podman_default, imp.default_caps())
    b = bundle()
    want = _sweep(b, oracle)
    got = _sweep(b, json.loads(exported.read_text()))
    assert len(want) > 440 and want[-len(TARGETED) - 1].startswith(f"{LAST_NR} ")
    diff = [(w, g) for w, g in zip(want, got, strict=True) if w != g]
    assert not diff, diff
    # the sweep did see both answers: refused by the default (ENOSYS) and allowed
    assert any(line.endswith("errno 38") for line in want)
    assert any(line.endswith(" ok") for line in want)
    assert "personality 0x1: errno 38" in want and "personality 8: ok" in want


def test_bad_inputs(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = stockade("import", "--from", "oci-seccomp", str(bad), "-o", str(tmp_path / "p"))
    assert res.returncode == 2 and res.stderr.count("\n") == 1 and "not JSON" in res.stderr
    res = stockade("import", "--from", "nosuch", str(bad), "-o", str(tmp_path / "p"))
    assert res.returncode == 2 and "unknown format" in res.stderr
    bad.write_text('{"defaultAction": "SCMP_ACT_NOTIFY", "syscalls": []}')
    res = stockade("import", "--from", "oci-seccomp", str(bad), "-o", str(tmp_path / "p"))
    assert res.returncode == 2 and "cannot be imported" in res.stderr
