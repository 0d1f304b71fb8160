"""An exec is decided on every file the kernel executes for it: the `#!` interpreters and the
ELF loader (PT_INTERP), not only the file named."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from confine_helpers import PY, cli

from stockade.enforce.supervisor.execve import chain as exec_chain


def _pinned(path: str) -> int:
    return os.open(path, os.O_PATH | os.O_CLOEXEC)


def _readelf_interp(path: str) -> bytes | None:
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True,
                         check=True).stdout
    m = re.search(r"Requesting program interpreter: (\S+)\]", out)
    return m.group(1).encode() if m else None


@pytest.mark.parametrize("path", ["/usr/bin/true", PY, "/bin/busybox"])
def test_elf_interpreter_matches_readelf(path: str) -> None:
    if not os.path.exists(path) or shutil.which("readelf") is None:
        pytest.skip(f"{path} or readelf missing")
    fd = _pinned(path)
    try:
        head = exec_chain.read_file(fd, exec_chain.BINPRM_BUF_SIZE)
        assert exec_chain.elf_interpreter(fd, head) == _readelf_interp(path)
    finally:
        os.close(fd)


def test_script_line_parsed_as_binfmt_script() -> None:
    assert exec_chain.script_interpreter(b"#! /bin/sh -e\nx") == b"/bin/sh"
    assert exec_chain.script_interpreter(b"#!\t/usr/bin/env\tpython3\n") == b"/usr/bin/env"
    assert exec_chain.script_interpreter(b"#!/x") == b"/x"  # no newline in the first 256 bytes
    assert exec_chain.script_interpreter(b"\x7fELF") is None
    with pytest.raises(OSError):
        exec_chain.script_interpreter(b"#!   \n")


BIBA = ["--mode", "enforce", "--lsm", "capability,biba", "--context", "biba=medium",
        "--module-option", "biba.default_level=high", "--rx", PY, "--rx", "/usr"]


def _build(d: Path, loader: Path) -> Path:
    src = d / "hello.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("HELLO"); return 0; }\n')
    out = d / "hello"
    subprocess.run(["gcc", "-o", str(out), str(src), f"-Wl,--dynamic-linker={loader}"],
                   check=True, capture_output=True)
    os.chmod(out, 0o755)
    return out


def test_elf_loader_is_decided(area, user):
    if shutil.which("gcc") is None:
        pytest.skip("gcc missing")
    d = area.allowed
    loader = d / "ld.so"
    shutil.copyfile(os.path.realpath("/lib64/ld-linux-x86-64.so.2"), loader)
    os.chmod(loader, 0o755)
    binary = _build(d, loader)
    os.setxattr(binary, "user.stockade.biba", b"medium")
    os.setxattr(loader, "user.stockade.biba", b"medium")
    ok = cli("run", *BIBA, "--rx", str(d), "--", str(binary), user=user)
    assert ok.stdout.split() == ["HELLO"], ok  # a medium loader: runs
    os.setxattr(loader, "user.stockade.biba", b"low")
    res = cli("run", *BIBA, "--rx", str(d), "--", str(binary), user=user)
    assert "HELLO" not in res.stdout and res.returncode == 126, res  # a low loader: refused


def test_script_chains_are_decided_to_the_kernels_depth(area, user):
    d = area.allowed
    prev = "/usr/bin/echo"
    for i in range(6):
        script = d / f"s{i}"
        script.write_text(f"#!{prev}\n")
        os.chmod(script, 0o755)
        os.setxattr(script, "user.stockade.biba", b"medium")
        prev = str(script)
    ok = cli("run", *BIBA, "--rx", str(d), "--", str(d / "s4"), user=user)
    assert str(d / "s4") in ok.stdout, ok  # five interpreters: the kernel runs it
    deep = cli("run", *BIBA, "--rx", str(d), "--", str(d / "s5"), user=user)
    assert deep.returncode == 126 and str(d / "s5") not in deep.stdout, deep  # ELOOP
    os.setxattr(d / "s0", "user.stockade.biba", b"low")  # the deepest interpreter, low
    low = cli("run", *BIBA, "--rx", str(d), "--", str(d / "s4"), user=user)
    assert low.returncode == 126 and str(d / "s4") not in low.stdout, low
