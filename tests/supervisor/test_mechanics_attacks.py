"""Hostile arguments against the notification mechanics, under both (C and pure Python): each
answer must be what the kernel itself gives the same program unconfined (the oracle), and the
supervisor must count no internal error."""

from __future__ import annotations

import subprocess

from sv_helpers import Tree, script, supervised

ATTACKS = """
import mmap, signal, threading
NR_OPENAT, NR_OPENAT2 = 257, 437
page = mmap.PAGESIZE
area = mmap.mmap(-1, 2 * page)
base = ctypes.addressof(ctypes.c_char.from_buffer(area))
libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
def at(offset, data):
    area[offset:offset + len(data)] = data
    return ctypes.c_void_p(base + offset)
def openat(ptr, flags=0):  # mode 0: a stale register could hold S_ISUID (baseline EPERM)
    return sys_(NR_OPENAT, ctypes.c_long(-100), ptr, ctypes.c_long(flags), ctypes.c_long(0))
attempt(lambda: openat(ctypes.c_void_p(0)))                      # NULL
attempt(lambda: openat(ctypes.c_void_p(4096)))                   # unmapped low page
attempt(lambda: openat(ctypes.c_void_p(0xffffffffffff0000)))      # kernel half
attempt(lambda: openat(ctypes.c_char_p(b"")))                     # empty
attempt(lambda: openat(ctypes.c_char_p(b"/" + b"a" * 5000)))     # no NUL within PATH_MAX
attempt(lambda: openat(ctypes.c_char_p(b"/" + b"a" * 4094)))     # PATH_MAX - 1 (name too long)
exact = TREE.encode() + b"/" + b"./" * ((4095 - len(TREE) - 3) // 2) + b"ok"
exact = exact[:len(TREE) + 1] + b"/" * (4095 - len(exact)) + exact[len(TREE) + 1:]
assert len(exact) == 4095
attempt(lambda: os.close(openat(ctypes.c_char_p(exact))))         # PATH_MAX with the NUL
attempt(lambda: openat(ctypes.c_char_p(exact[:-2] + b"/ok")))     # one byte more
attempt(lambda: openat(ctypes.c_char_p(b"\\xff\\xfe/\\n\\x1b[31m")))   # not UTF-8, controls
attempt(lambda: os.close(openat(ctypes.c_char_p(TREE.encode() + b"/ok"))))
# a string ending exactly at a page end, then running into a PROT_NONE page
name = TREE.encode() + b"/ok"
ptr = at(page - len(name) - 1, name + b"\\0")
attempt(lambda: os.close(openat(ptr)))
area[page - 1:page] = b"x"
libc.mprotect(ctypes.c_void_p(base + page), page, 0)
attempt(lambda: openat(ptr))                                      # runs into PROT_NONE
libc.mprotect(ctypes.c_void_p(base + page), page, 3)
# openat2 is refused before the supervisor (baseline ENOSYS): not an oracle case here
# signals while the call waits for the supervisor: every open ends, none lost
hits = [0]
signal.signal(signal.SIGALRM, lambda *a: hits.__setitem__(0, hits[0] + 1))
signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
bad = 0
for _ in range(2000):
    try:
        os.close(os.open(TREE + "/ok", os.O_RDONLY))
    except OSError as e:
        bad += 1
signal.setitimer(signal.ITIMER_REAL, 0, 0)
print("signals", "none-lost" if bad == 0 else bad)
"""


def test_hostile_arguments_get_the_kernels_answers(mechanics: str) -> None:
    tree = Tree()
    tree.file("ok", "OK\n", biba="medium")
    d = str(tree.root)
    argv = script(f"TREE = {d!r}\n" + ATTACKS)
    try:
        oracle = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        run = supervised(argv, ro=[d], timeout=180)
    finally:
        tree.cleanup()
    assert oracle.returncode == 0, oracle.stderr
    assert run.status == 0, run
    assert run.lines == oracle.stdout.split(), "\n".join(
        f"{a} {b}" for a, b in zip(run.lines, oracle.stdout.split(), strict=False))
    assert run.stats["errors"] == 0 and run.stats["fatal"] == "None", run
    assert run.stats["mechanics"] == mechanics


def test_a_path_rewritten_while_it_is_read_never_reaches_the_low_file(mechanics: str) -> None:
    """Another thread flips the path buffer between a medium and a low file while the call is
    notified: whatever name the supervisor read, the decision is on the file it opened."""
    tree = Tree()
    tree.file("ok", "OK\n", biba="medium")
    tree.file("lo", "LOW\n", biba="low")
    d = str(tree.root)
    try:
        run = supervised(script(f"""
import threading
buf = ctypes.create_string_buffer({d!r}.encode() + b"/ok")
stop = False
def flip():
    i = 0
    while not stop:
        buf[len(buf.value) - 2:len(buf.value)] = b"lo" if i & 1 else b"ok"
        i += 1
t = threading.Thread(target=flip)
t.start()
seen = set()
for _ in range(1500):
    try:
        fd = sys_(257, ctypes.c_long(-100), buf, ctypes.c_long(0), ctypes.c_long(0))
        seen.add(os.read(fd, 10).decode().strip())
        os.close(fd)
    except OSError as e:
        seen.add(errno.errorcode[e.errno])
stop = True
t.join()
print(" ".join(sorted(seen)))
"""), ro=[d], timeout=180)
    finally:
        tree.cleanup()
    assert run.status == 0, run
    assert "LOW" not in run.lines and "OK" in run.lines, run
    assert run.stats["errors"] == 0 and run.stats["mechanics"] == mechanics, run
