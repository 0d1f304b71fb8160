"""What a denial means in one line, and the rule that would have allowed it.

The rules are written in the language of the layer that denied: AppArmor profile rules for
AppArmor and for stockade's own file, capability and network denials; for Landlock, the
profile rule and the launcher flag (`--ro`, `--rx` or `--rw PATH`, as `stockade run` grants); SELinux gets the
audit2allow-style `allow` rule.
"""

from __future__ import annotations

import shlex

from stockade.audit.record import AuditRecord

# AppArmor's denied_mask letters → the permission letter a profile grants (apparmor.d(5)):
# create/delete/setattr/chown ... are all granted by 'w'; 'x' wants an exec mode.
MASK_LETTERS = {"r": "r", "w": "w", "a": "a", "c": "w", "d": "w", "x": "x", "m": "m",
                "k": "k", "l": "l", "t": "w", "o": "w", "N": "w", "A": "w"}
# stockade's own records name the access in words (`read,open`).
ACCESS_WORD_LETTERS = {"read": "r", "write": "w", "append": "a", "exec": "x", "open": "",
                       "access": "", "chdir": "r", "mmap": "m", "lock": "k", "link": "l",
                       "create": "w", "unlink": "w", "rename": "w", "setattr": "w"}
# Landlock blockers → (the permission letter, the `stockade run` flag that grants it): --ro
# grants read_file/read_dir, --rx adds execute, --rw adds writing, making and removing but not
# execute (enforce/defaults.py READ, READ_EXEC, READ_WRITE).
LANDLOCK_FS = {
    "fs.execute": ("x", "--rx"), "fs.read_file": ("r", "--ro"), "fs.read_dir": ("r", "--ro"),
    "fs.write_file": ("w", "--rw"), "fs.truncate": ("w", "--rw"), "fs.ioctl_dev": ("w", "--rw"),
    "fs.remove_dir": ("w", "--rw"), "fs.remove_file": ("w", "--rw"),
    "fs.make_char": ("w", "--rw"), "fs.make_dir": ("w", "--rw"), "fs.make_reg": ("w", "--rw"),
    "fs.make_sock": ("w", "--rw"), "fs.make_fifo": ("w", "--rw"), "fs.make_block": ("w", "--rw"),
    "fs.make_sym": ("w", "--rw"), "fs.refer": ("l", "--rw"),
}  # fmt: skip
# Landlock reports the directory for these: the access is to what is made or removed in it.
LANDLOCK_MAKE_REMOVE = frozenset({"fs.remove_dir", "fs.remove_file", "fs.make_char",
                                  "fs.make_dir", "fs.make_reg", "fs.make_sock", "fs.make_fifo",
                                  "fs.make_block", "fs.make_sym"})
_IN_DIRECTORY = LANDLOCK_MAKE_REMOVE | {"fs.refer", "fs.read_dir"}


def mask_letters(mask: str) -> str:
    """`r`, `rw`, `rx` ... (in `rwamkl` order, then `x`) from a denied mask (`r`, `wc`) or
    access words (`read,write`)."""
    words = [w for w in mask.replace(" ", ",").split(",") if w]
    if words and all(w in ACCESS_WORD_LETTERS for w in words):
        found = {ACCESS_WORD_LETTERS[w] for w in words}
    else:
        found = {MASK_LETTERS.get(c, "") for c in mask}
    return "".join(c for c in "rwamklx" if c in found)


def _perm_letters(mask: str) -> str:
    """The permissions of a rule for `mask`: exec becomes `ix`."""
    letters = mask_letters(mask)
    return letters.replace("x", "") + ("ix" if "x" in letters else "")


def aa_path(path: str) -> str:
    """A path as a profile writes it: quoted when it holds a space or a quote."""
    if any(c.isspace() or c == '"' for c in path):
        return '"' + path.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return path


def _path_rule(path: str, mask: str, owner: bool = False) -> str:
    perms = _perm_letters(mask) or "r"
    return f"  {'owner ' if owner else ''}{aa_path(path)} {perms},"


def _apparmor_rule(r: AuditRecord) -> str:
    f = r.fields
    op = r.operation
    mask = r.denied or r.requested
    if op == "capable" or f.get("class") == "cap" or r.module == "capability":
        return f"  capability {r.object},"
    if op == "signal" or f.get("class") == "signal":
        return f"  signal ({mask or 'send'}) set=({f.get('signal', '')}) peer={r.object},"
    if op == "ptrace" or f.get("class") == "ptrace":
        return f"  ptrace ({mask or 'read'}) peer={r.object},"
    if op.startswith("dbus"):
        member = " ".join(f"{k}={f[k]}" for k in ("path", "interface", "member") if f.get(k))
        peer = f.get("peer_label") or f.get("name", "")
        return f"  dbus {mask or 'send'} bus={f.get('bus', 'session')} {member} peer=(label={peer}),"
    if "family" in f and (op in ("create", "connect", "bind", "listen", "accept", "sendmsg",
                                 "recvmsg", "getsockopt", "setsockopt") or f.get("class") == "net"):
        if f.get("family") == "unix":
            return f"  unix ({mask or 'connect'}) type={f.get('sock_type', 'stream')},"
        return f"  network {f['family']} {f.get('sock_type', '')},".replace(" ,", ",")
    if op in ("mount", "umount", "remount", "pivotroot"):
        fstype = f" fstype={f['fstype']}" if f.get("fstype") else ""
        return f"  {op}{fstype} -> {r.object},"
    if r.object.startswith("/"):
        owner = bool(f.get("fsuid")) and f.get("fsuid") == f.get("ouid") and f.get("fsuid") != "0"
        # AppArmor names a directory with a trailing slash: `DIR/ w` makes or removes it
        made = {op, f.get("operation", "")} & {"mkdir", "rmdir", "inode_mkdir", "inode_rmdir"}
        path = r.object.rstrip("/") + "/" if made else r.object
        return _path_rule(path, mask, owner)
    return ""


def _landlock_rule(r: AuditRecord) -> str:
    blockers = [b for b in r.denied.split(",") if b]
    fs = [b for b in blockers if b in LANDLOCK_FS]
    if fs and r.object.startswith("/"):
        letters = _perm_letters("".join(LANDLOCK_FS[b][0] for b in fs))
        target = r.object.rstrip("/") + "/*" if all(b in _IN_DIRECTORY for b in fs) else r.object
        if "fs.read_dir" in fs and len(fs) == 1:
            target = r.object.rstrip("/") + "/"
        path = shlex.quote(r.object)
        return f"  {aa_path(target)} {letters},   (or {_run_flags(set(fs), path)})"
    if any(b.startswith("net.") for b in blockers):
        port = r.object.rsplit(":", 1)[-1] if ":" in r.object else ""
        verb = "bind" if any("bind" in b for b in blockers) else "connect"
        family = "udp" if any("udp" in b for b in blockers) else "tcp"
        return f"  network inet {'stream' if family == 'tcp' else 'dgram'},   ({verb} {family} port {port})"
    if "scope.signal" in blockers:
        return f"  signal (send) peer={r.object},"
    if "scope.abstract_unix_socket" in blockers:
        return f"  unix (connect) type=stream peer=(addr={r.object or '@*'}),"
    return ""


def _run_flags(blockers: set[str], path: str) -> str:
    """The fewest `stockade run` flags granting every blocker on `path`: --rx holds --ro,
    and execute with writing needs both --rw and --rx."""
    flags = {LANDLOCK_FS[b][1] for b in blockers}
    if "--rw" in flags or "--rx" in flags:
        flags.discard("--ro")
    return " ".join(f"{flag} {path}" for flag in sorted(flags, key=("--rw", "--rx", "--ro").index))


def suggest_rule(r: AuditRecord) -> str:
    """The profile rule (indented, as in a profile) that would allow this denial, or ''."""
    if r.module in ("apparmor", "capability", "dac", "stockade"):
        return _apparmor_rule(r)
    if r.module == "supervisor" and r.requested and r.object.startswith("/"):
        return _path_rule(r.object, r.requested)  # a plan grant `run -p`'s supervisor lacked
    if r.module == "landlock":
        return _landlock_rule(r)
    if r.module == "selinux":
        target = r.fields.get("tcontext", "").split(":")
        ttype = target[2] if len(target) > 2 else "?"
        perms = r.fields.get("perms") or r.denied.replace(",", " ")
        return f"  allow {r.profile} {ttype}:{r.operation} {{ {perms} }};"
    if r.module == "seccomp":
        return f"  # allow the {r.object} syscall in the profile's seccomp filter"
    return ""


def describe(r: AuditRecord) -> str:
    """One readable line: who, what operation, on what, what was denied."""
    who = r.profile or r.subject or r.comm or "?"
    proc = f"{r.comm}[{r.pid}]" if r.pid else r.comm
    what = r.denied or r.requested
    target = r.object or "-"
    verdict = r.result if r.result != "DENIED" else "denied"
    mode = f" ({r.mode})" if r.mode not in ("enforce", "") else ""
    return f"{r.module}: {who}: {verdict}{mode} {r.operation} {target} [{what}] by {proc}".rstrip()
