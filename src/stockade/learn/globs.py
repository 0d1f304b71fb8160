"""Turning observed paths into profile paths: escaping, and collapsing into safe globs.

What aa-genprof and aa-logprof propose by hand, done where it is safe: a process's own
/proc entries become `@{PROC}/@{pid}/`, a home directory `@{HOME}/`, the multiarch library
directory `@{multiarch}`, version numbers in library directories and sonames a `[0-9]*`, and
the random part of a temporary file's name a `*` (only under the temporary directories), and
a content-addressed name (a hex digest of 32 digits or more: git's objects and packs, build
ids, caches) a `*`, with the two-digit fan-out directory it sits in (`.git/objects/03/`)
a `[0-9a-f][0-9a-f]` (aa-logprof's "Glob" on each: the next run's objects have other names).
"""

from __future__ import annotations

import os
import pwd
import re
from collections.abc import Collection, Iterable

_SPECIAL = set('*?[]{}^,"\\ @$#')
_PROC_TASK = re.compile(r"^/proc/(?:\d+|self|thread-self)/task/\d+(?=/|$)")
_PROC_PID = re.compile(r"^/proc/(?:\d+|self|thread-self)(?=/|$)")
_MULTIARCH = re.compile(r"/(x86_64|aarch64|arm|i386|powerpc64le|s390x|riscv64)-linux-gnu[a-z]*(?=/|$)")
_SONAME = re.compile(r"^(lib[^/]*?\.so)\.\d+(?:\.\d+)*$")
_VERSION_DIR = re.compile(r"^(\D+?)(\d+)\.(\d+)$")  # python3.11, perl5.36
_NUMBER_DIR = re.compile(r"^\d+(?:\.\d+)*$")  # gcc/.../12, perl/5.36.0
_TEMP_DIRS = ("/tmp/", "/var/tmp/", "/dev/shm/", "/run/user/")
_RANDOM_STEM = re.compile(r"^(tmp|\.?[A-Za-z]{0,12}[._-])?([A-Za-z0-9_]{6,})$")
_WORD_AND_SIX = re.compile(r"^([a-z]{1,4})([A-Za-z0-9]{6})$")
#: mkdtemp's prefix of several words (Python's `pip-build-tracker-`) and its random part: a
#: temporary name only where the program made it (a directory the user made in /tmp with
#: mkdtemp, such as its work directory, is the program's input, named)
_PREFIXED_STEM = re.compile(r"^((?:[A-Za-z][A-Za-z0-9]{0,11}[._-]){2,4})([A-Za-z0-9_]{6,})$")
_RANDOM_SUFFIX = re.compile(r"^([A-Za-z]{1,12}\.(?:[A-Za-z]{1,12}-)?)([A-Za-z0-9_]{6,12})$")
#: names whose random part may be all lower case: sem_open's `sem.XXXXXX`, multiprocessing's
#: `sem.mp-` and 8 of [a-z0-9_]
_KNOWN_TEMPLATE = re.compile(r"^sem\.(?:[A-Za-z0-9]{6}|mp-[a-z0-9_]{8})$")
#: a content digest in a name: md5 (32), git's loose object (38), sha1 (40), sha256 (64), ...
_DIGEST = re.compile(r"[0-9a-f]{32,}|[0-9A-F]{32,}")
_FAN_OUT = re.compile(r"[0-9a-f]{2}")
#: the glob of a fan-out directory's name
FAN_OUT_GLOB = "[0-9a-f][0-9a-f]"
_LIB_ROOTS = ("/usr/lib/", "/lib/", "/usr/lib64/", "/lib64/", "/usr/local/lib/", "/usr/libexec/",
              "/usr/share/")


def escape(text: str) -> str:
    """A literal path fragment as AARE: glob characters and spaces escaped."""
    return "".join("\\" + c if c in _SPECIAL else c for c in text)


def home_dirs() -> list[str]:
    """Home directories of this machine's users (with a trailing slash), longest first."""
    homes = {"/root/"}
    try:
        for entry in pwd.getpwall():
            if entry.pw_dir.startswith("/home/") and entry.pw_dir.count("/") == 2:
                homes.add(entry.pw_dir.rstrip("/") + "/")
    except OSError:
        pass
    return sorted(homes, key=len, reverse=True)


def _looks_random(stem: str) -> bool:
    """mkstemp's XXXXXX and tempfile's 8 characters: short, letters mixed with digits or case."""
    letters = sum(c.isalpha() for c in stem)
    digits = sum(c.isdigit() for c in stem)
    return 6 <= len(stem) <= 12 and (digits >= 1 or stem != stem.lower()) and letters >= 1


def _temp_component(name: str, made: bool = False) -> str | None:
    stem, dot, ext = name.partition(".") if not name.startswith(".") else (name, "", "")
    if made and (match := _PREFIXED_STEM.match(stem)) and _looks_random(match.group(2)):
        return escape(match.group(1)) + "*" + (escape(dot + ext) if dot else "")
    match = _RANDOM_STEM.match(stem)
    if match and _looks_random(match.group(2)):
        # mkstemp's template is a word and 6 random characters of [A-Za-z0-9]: gcc's
        # `ccXXXXXX` keeps `cc` (an upper-case letter tells them from Python's tempfile
        # names, all lower case: those get no word kept)
        word = match.group(1) or ""
        if (not word and (short := _WORD_AND_SIX.match(stem))
                and any(c.isupper() for c in short.group(2))):
            word = short.group(1)
        return escape(word) + "*" + (escape(dot + ext) if dot else "")
    # glibc's sem_open (`sem.XXXXXX`) and Python's multiprocessing (`sem.mp-xxxxxxxx`): the
    # random part comes after the dot
    match = _RANDOM_SUFFIX.match(name)
    if match and (_looks_random(match.group(2)) or _KNOWN_TEMPLATE.match(name)):
        return escape(match.group(1)) + "*"
    return None


#: a temporary-file template's word: `tmp` (Python's tempfile) or a name ending in a separator
#: (`foo.`, `upload-`, git's `tmp_pack_`), a leading dot allowed
_TEMPLATE_WORD = r"(\.?(?:tmp|[A-Za-z0-9][A-Za-z0-9._-]*[._-]))"
#: mkstemp(3)/mkdtemp(3)'s 6 of [A-Za-z0-9]; Python's tempfile's 8 of [a-z0-9_]
_MKSTEMP_NAME = re.compile(_TEMPLATE_WORD + r"([A-Za-z0-9]{6})")
_TEMPFILE_NAME = re.compile(_TEMPLATE_WORD + r"([a-z0-9_]{8})")


def _mixed(part: str) -> bool:
    """At least two of lower case, upper case and digits (mkstemp's 6 are drawn from all)."""
    return sum((any(c.islower() for c in part), any(c.isupper() for c in part),
                any(c.isdigit() for c in part))) >= 2


def random_name(name: str, *, temp_dir: bool = False, made: bool = False) -> str | None:
    """The glob of a name that looks made by mkstemp/mkdtemp or Python's tempfile (its random
    part a `*`), or None when it looks chosen: the one answer learn and logprof ask for the
    names a program writes. Directly in a temporary directory (`temp_dir`: /tmp/NAME) the
    shapes are taken loosely (no template word needed: `tmpab12cd`, gcc's `ccAbC123.s`);
    elsewhere a template word and its random part are needed: `WORD` + 6 of [A-Za-z0-9] with
    two kinds of character (mkstemp's; all lower case in git's templates), or `WORD` + 8 of
    [a-z0-9_] with letters and digits (tempfile's), then an optional `.ext` (mkstemps).
    `made`: the program made this name in the temporary directory itself (made_temp_names),
    so a prefix of several words counts as mkdtemp's."""
    if temp_dir:
        return _temp_component(name, made)
    head, dot, ext = name.rpartition(".")
    stems = [(name, "")]
    if dot and head and 1 <= len(ext) <= 8 and ext.isalnum():
        stems.append((head, dot + ext))
    for stem, suffix in stems:
        m = _MKSTEMP_NAME.fullmatch(stem)
        if m and (_mixed(m.group(2)) or _GIT_TEMPLATE.match(stem)):
            return escape(m.group(1)) + "*" + escape(suffix)
        m = _TEMPFILE_NAME.fullmatch(stem)
        if m and any(c.isdigit() for c in m.group(2)) and any(c.isalpha() for c in m.group(2)):
            return escape(m.group(1)) + "*" + escape(suffix)
    return None


def _temp_name_index(path: str) -> int:
    """The index (in `path.split("/")`) of the name a program made in a temporary directory
    (`/tmp/NAME`, `/run/user/UID/NAME`), -1 when `path` is in none. Only that name may be
    random: what lies beneath it was named by the program (a venv's `bin/python3`, a
    project's `Makefile` under /tmp are names, not mkstemp's XXXXXX)."""
    for root in _TEMP_DIRS:
        if path.startswith(root):
            depth = root.count("/")
            return depth + 1 if root == "/run/user/" else depth
    return -1


def made_temp_names(created: Iterable[str]) -> set[str]:
    """The names a program made directly in a temporary directory (`/tmp/NAME`), of the
    paths it `created`: `collapse` takes a prefix of several words as mkdtemp's only there."""
    made: set[str] = set()
    for path in created:
        parts = path.rstrip("/").split("/")
        if _temp_name_index(path) == len(parts) - 1:
            made.add(parts[-1])
    return made


def collapse(path: str, homes: list[str] | None = None, made: Collection[str] = (), *,
             written: bool = False) -> str:
    """`path` as a profile path (escaped), with the safe collapses above applied (`made`:
    made_temp_names of what the program created); `written` (the program writes `path`): also
    each name below the top directories that looks like a temporary file's or directory's
    (`random_name`), wherever it lies."""
    homes = home_dirs() if homes is None else homes
    prefix = ""
    rest = path
    for pattern, variable in ((_PROC_TASK, "@{PROC}/@{pid}/task/@{tid}"),
                              (_PROC_PID, "@{PROC}/@{pid}")):
        match = pattern.match(rest)
        if match:
            return variable + escape(rest[match.end():])
    for home in homes:
        if rest.startswith(home) or rest == home.rstrip("/"):
            prefix, rest = "@{HOME}/", rest[len(home):]
            break
    parts = rest.split("/")
    temp = _temp_name_index(rest) if prefix == "" else -1
    library = prefix == "" and rest.startswith(_LIB_ROOTS)
    out: list[str] = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if _DIGEST.search(part):
            out.append("*".join(escape(p) for p in _DIGEST.split(part)))
            if i >= 2 and _FAN_OUT.fullmatch(parts[i - 1]):
                out[-2] = FAN_OUT_GLOB
        elif part and (i == temp or (written and i >= 2)) and (
                replaced := random_name(part, temp_dir=i == temp, made=part in made)) is not None:
            out.append(replaced)
        elif library and (m := _MULTIARCH.fullmatch("/" + part)) and m:
            out.append("@{multiarch}")
        elif library and last and (m := _SONAME.match(part)):
            out.append(escape(m.group(1)) + "*")
        elif library and not last and (m := _VERSION_DIR.match(part)):
            out.append(escape(m.group(1) + m.group(2)) + ".[0-9]*")
        elif library and not last and i >= 3 and _NUMBER_DIR.match(part):
            out.append("[0-9]*")
        else:
            out.append(escape(part))
    return prefix + "/".join(out)


def fan_out_dirs(globs: Iterable[str]) -> set[str]:
    """The directories (`/r/.git/objects/`) whose fan-out subdirectories `collapse` made a
    glob of, in some of `globs`."""
    marker = "/" + FAN_OUT_GLOB + "/"
    return {g[:g.index(marker) + 1] for g in globs if marker in g}


def into_fan_out(glob: str, dirs: set[str]) -> str:
    """`glob` with a fan-out subdirectory of one of `dirs` made a glob, and its file name a
    `*` (git's `objects/03/` and `objects/03/tmp_obj_AbC123` beside `objects/03/<digest>`);
    `glob` itself otherwise."""
    for directory in dirs:
        if not glob.startswith(directory):
            continue
        name, slash, rest = glob[len(directory):].partition("/")
        if not _FAN_OUT.fullmatch(name):
            continue
        if not slash or not rest:
            return directory + FAN_OUT_GLOB + slash
        if "/" not in rest:
            return directory + FAN_OUT_GLOB + "/*"
        return directory + FAN_OUT_GLOB + "/" + rest
    return glob


_NUMBER_SUFFIX = re.compile(r"(?<=[^/])\.[0-9]{4,}$")
_PID_PART = re.compile(r"(?<=[^/][_.-])[0-9]{4,}(?=[_.-])")
#: git's mkstemp templates (`tmp_pack_XXXXXX`, `packs_XXXXXX`...), whose 6 characters may all
#: be lower-case letters (about 1 draw in 180), which `_looks_random` takes for a word
_GIT_TEMPLATE = re.compile(r"^(?:tmp_(?:pack|idx|obj|rev|bitmap|mtimes)|packs|refs|info)_"
                           r"[A-Za-z0-9]{6}$")


def created_glob(glob: str) -> str:
    """A created file's name with the parts the next run names otherwise as globs: a number
    of 4 digits or more at the end (Python's atomic `mod.pyc.140584330346928`, a core's pid)
    as `.[0-9]*`, and a number of 4 digits or more between separators (a pid,
    `.tmp-9422-pack-*.idx`; a date's year) as `*`. Shorter numbers are names (Python's
    cache tag `cpython-311`, a soname's `.6`). A name that looks random (`random_name`:
    git's mkstemp names `tmp_pack_wO6SYK`, `packs_vkNK6F`) as its template word and `*`."""
    head, _, name = glob.rpartition("/")
    name = _NUMBER_SUFFIX.sub(".[0-9]*", name)
    name = random_name(name) or name  # as collapse(written=True) does: a glob passes as is
    name = _PID_PART.sub("*", name)
    return f"{head}/{name}" if head or glob.startswith("/") else name


#: a directory whose listing and that of this many directories beneath it were seen was walked
WALKED = 8


def walked_roots(listed: Iterable[str]) -> set[str]:
    """The directories a program walked (`find D`, `ls -R D`, `du D`): among the directory
    globs it listed (`D/`, ending in a slash), each that is listed itself, is not `/`, and has
    at least WALKED listed directories beneath it; of nested ones the topmost, narrowed to the
    deepest listed directory beneath it that holds all the others."""
    dirs = sorted(set(listed))
    roots: set[str] = set()
    for i, top in enumerate(dirs):
        if top == "/" or any(top.startswith(r) for r in roots):
            continue
        below = []
        for other in dirs[i + 1:]:
            if not other.startswith(top):
                break
            below.append(other)
        if len(below) >= WALKED:
            # the deepest listed directory holding them all: `find tree` run from its parent
            # lists the parent (the working directory) too, whose other entries it never saw
            common = os.path.commonpath([d.rstrip("/") for d in below]) + "/"
            roots.add(common if common in below else top)
    return roots


def into_walked(glob: str, roots: set[str]) -> str:
    """A directory glob beneath a walked root as `ROOT**/` (aa-logprof's Glob, twice)."""
    for root in roots:
        if glob.startswith(root) and glob != root:
            return root + "**/"
    return glob


def glob_directory(path: str) -> str:
    """aa-logprof's "Glob": the last component replaced by `*` (`/a/b/c` → `/a/b/*`)."""
    head = path.rstrip("/").rsplit("/", 1)[0]
    return (head or "") + "/*"


def glob_with_extension(path: str) -> str:
    """aa-logprof's "Glob with extension": `/a/b/c.txt` → `/a/b/*.txt`."""
    head, _, name = path.rpartition("/")
    _, dot, ext = name.rpartition(".")
    return f"{head}/*.{ext}" if dot and ext else glob_directory(path)


def is_under(path: str, directory: str) -> bool:
    """True when `path` is `directory` or inside it."""
    directory = os.path.normpath(directory)
    return path == directory or path.startswith(directory.rstrip("/") + "/")
