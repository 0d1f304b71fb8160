"""Run setools_dump.py in the system Python, from the unconfined launcher, so that it executes
only code a sandbox cannot have written and hands its dump back through a pipe.

SETools belongs to Debian's /usr/bin/python3, not to stockade's venv, so the importer starts
that interpreter. Started plainly it would import from the user site directory
(~/.local/lib/python3.X/site-packages) and /usr/local/lib/python3.X/dist-packages, and run
their *.pth files, places a sandbox of the same user may have written (red team 13). So it
runs with `-I -S` (no PYTHON* variable, no user site, no script directory, no site module:
no *.pth), an empty environment and / as its directory; the only directories added to its
standard library's are `SETOOLS_DIRS`. `code_paths` names what it executes besides stockade's
own package, for own_code to judge as it judges the launcher's sys.path.

The policy's bytes reach it in a memfd (the bytes hashed for the dump cache's key are the
bytes dumped, whatever happens to the file meanwhile) and the dump comes back on its standard
output: no file name in a shared directory that a sandbox could swap (red team 13).
"""

from __future__ import annotations

import os

#: the interpreter SETools belongs to
SYSTEM_PYTHON = os.environ.get("STOCKADE_SETOOLS_PYTHON", "/usr/bin/python3")
#: where it imports SETools from (Debian's python3-setools), besides its standard library
SETOOLS_DIRS = ("/usr/lib/python3/dist-packages",)
TIMEOUT = 600  # seconds: Debian's policy takes ~5 s


def code_paths() -> list[str]:
    """What the helper executes that is not the launcher's own code: the interpreter (by its
    name: own_code follows its links), its standard library where a POSIX build keeps it
    (PREFIX/lib/python3.X and PREFIX/lib/python3X.zip, PREFIX above the interpreter's real
    directory: the launcher's own where its venv is made from the same interpreter), and the
    directories SETools is imported from."""
    real = os.path.realpath(SYSTEM_PYTHON)
    name = os.path.basename(real)  # python3.11
    stdlib = []
    if name.startswith("python3.") and name[len("python3."):].isdigit():
        lib = os.path.join(os.path.dirname(os.path.dirname(real)), "lib")
        stdlib = [os.path.join(lib, name), os.path.join(lib, name.replace(".", "") + ".zip")]
    return [SYSTEM_PYTHON, *stdlib, *SETOOLS_DIRS]


def command(script: str, policy: str) -> list[str]:
    """The helper's command line: the dump of `policy` on standard output."""
    dirs = [arg for d in SETOOLS_DIRS for arg in ("--setools-dir", d)]
    return [SYSTEM_PYTHON, "-I", "-S", script, *dirs, policy, "-"]


def dump_bytes(policy: bytes, label: str) -> bytes:
    """The JSON dump of the binary policy `policy` (named `label` in errors), as the helper
    wrote it to its standard output; StockadeError when it cannot be made."""
    import subprocess

    from stockade.errors import StockadeError
    from stockade.modules.selinux import setools_dump

    fd = os.memfd_create("stockade-policy", os.MFD_CLOEXEC)
    try:
        view = memoryview(policy)
        while view:
            view = view[os.write(fd, view):]
        try:
            proc = subprocess.run(command(setools_dump.__file__, f"/proc/self/fd/{fd}"),
                                  pass_fds=(fd,), stdin=subprocess.DEVNULL, capture_output=True,
                                  env={}, cwd="/", timeout=TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as err:
            raise StockadeError(f"cannot run {SYSTEM_PYTHON} to read the policy with setools: "
                                f"{err}") from None
    finally:
        os.close(fd)
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().replace(f"/proc/self/fd/{fd}", label)
        raise StockadeError(why or f"setools dump of {label} failed ({proc.returncode})")
    return proc.stdout
