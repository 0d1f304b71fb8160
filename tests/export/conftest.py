"""Fixtures of the export tests: a static probe program and runc bundles that run it."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).resolve().parent
_ids = itertools.count()


def need_root_and(tool: str) -> None:
    """Skip unless running as root with `tool` installed (runc, systemd-analyze)."""
    if os.geteuid() != 0:
        pytest.skip("needs root")
    if shutil.which(tool) is None:
        pytest.skip(f"needs {tool}")


@pytest.fixture(scope="session")
def probe(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/export/probe.c built with gcc -static."""
    if shutil.which("gcc") is None:
        pytest.skip("needs gcc")
    out = tmp_path_factory.mktemp("probe") / "probe"
    subprocess.run(["gcc", "-static", "-O1", "-o", str(out), str(HERE / "probe.c")],
                   check=True, capture_output=True, timeout=120)
    return out


class Bundle:
    """An OCI bundle (busybox-static rootfs + probe) whose config starts as `runc spec`'s."""

    def __init__(self, root: Path, probe: Path) -> None:
        need_root_and("runc")
        busybox = shutil.which("busybox") or "/bin/busybox"
        if not os.path.exists(busybox):
            pytest.skip("needs busybox-static")
        self.dir = root
        rootfs = root / "rootfs"
        for sub in ("bin", "proc", "dev", "sys", "tmp", "etc"):
            (rootfs / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy(busybox, rootfs / "bin" / "busybox")
        for applet in ("sh", "true", "cat", "ls", "id", "unshare", "grep"):
            os.symlink("busybox", rootfs / "bin" / applet)
        shutil.copy(probe, rootfs / "bin" / "probe")
        subprocess.run(["runc", "spec", "--bundle", str(root)], check=True, timeout=30)
        self.config: dict[str, Any] = json.loads((root / "config.json").read_text())
        self.config["process"]["terminal"] = False
        self.state = root / "state"

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Write the config and run `args` in a fresh container; removes it afterwards."""
        self.config["process"]["args"] = list(args)
        (self.dir / "config.json").write_text(json.dumps(self.config))
        cid = f"stockade-export-{os.getpid()}-{next(_ids)}"
        try:
            return subprocess.run(["runc", "--root", str(self.state), "run", "--bundle",
                                   str(self.dir), cid], capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        finally:
            subprocess.run(["runc", "--root", str(self.state), "delete", "-f", cid],
                           capture_output=True, timeout=30)


@pytest.fixture
def bundle(tmp_path: Path, probe: Path) -> Callable[[], Bundle]:
    """`bundle()` makes a new Bundle under tmp_path."""

    def make() -> Bundle:
        return Bundle(tmp_path / f"bundle{next(_ids)}", probe)

    return make


def stockade(*args: str) -> subprocess.CompletedProcess[str]:
    """`python -m stockade ARGS`, output captured as text."""
    return subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                          text=True, timeout=120)
