"""The loaded policy: profiles by name (children as `parent//child`), attachment, AARE matching.

Attachment follows the kernel's `find_attach()` (security/apparmor/domain.c): a profile whose
attachment is a plain path equal to the executable wins at once; otherwise among the glob
attachments that match, the one whose match has the longest literal lead (the characters
matched before the first `*`/`**`, as `aa_dfa_leftmatch()` counts them; stockade stops at an
alternation too) wins, and two
candidates of equal length are a conflict: no profile attaches ("conflicting profile
attachments"). A top-level profile named by a path attaches to that path; hats never attach.
Attachment by extended attributes (`xattrs=`) is not modelled: such conditions are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import re2

from stockade.errors import StockadeError
from stockade.policy import CompiledProfile, Loader, compile_profiles
from stockade.policy.aare import AareError, Pattern, query_bytes
from stockade.policy.aare import parse as parse_aare
from stockade.policy.ast import SourcePos
from stockade.policy.includes import is_path

UNCONFINED = "unconfined"
NULL_MARK = "//null-"


def _options() -> re2.Options:
    opts = re2.Options()
    opts.encoding = re2.Options.Encoding.LATIN1
    opts.never_capture = True
    opts.log_errors = False
    return opts


_OPTS = _options()


class Aare:
    """A compiled AARE (`/usr/bin/*`, a peer label `@{profile_name}`, ...) with a cache."""

    _cache: dict[str, tuple[Pattern, re2._Regexp] | None] = {}

    @classmethod
    def compiled(cls, text: str) -> tuple[Pattern, re2._Regexp] | None:
        """The pattern and its regex, or None when the text is not a valid AARE."""
        hit = cls._cache.get(text, False)
        if hit is not False:
            return hit  # type: ignore[return-value]
        try:
            pattern = parse_aare(text)
            value: tuple[Pattern, re2._Regexp] | None = (
                pattern, re2.compile(pattern.regex.encode("latin-1"), _OPTS))
        except (AareError, re2.error, UnicodeEncodeError):
            value = None
        if len(cls._cache) > 4096:
            cls._cache.clear()
        cls._cache[text] = value
        return value

    @classmethod
    def match(cls, pattern: str, value: str, *, path: bool = True) -> bool:
        """Whether `value` matches the AARE `pattern` (paths slash-folded; labels as is)."""
        compiled = cls.compiled(pattern)
        if compiled is None:
            return pattern == value
        data = query_bytes(value) if path else value.encode("utf-8", "surrogateescape")
        return compiled[1].fullmatch(data) is not None


def lead_length(pattern: Pattern, path: str) -> int:
    """How many characters of `path` the pattern matches before its first `*`, `**` or
    alternation (the kernel also counts through fixed alternations: a simplification)."""
    count = 0
    for node in pattern.seq:
        kind = node[0]
        if kind == "lit":
            count += len(node[1])
        elif kind in ("any", "class"):
            count += 1
        else:
            break
    return min(count, len(path))


@dataclass(frozen=True, slots=True)
class Attachment:
    """The result of an attachment search: the profile (or None) and why."""

    profile: CompiledProfile | None
    info: str = ""


def null_profile(parent: str, exe: str) -> CompiledProfile:
    """The learning profile a complain-mode profile gets for an exec it has no rule for."""
    return CompiledProfile(name=f"{parent}{NULL_MARK}{exe}", attachment=None,
                           flags=("complain",), mode="complain", source="<null profile>",
                           pos=SourcePos("<null profile>", 0, 0))


class ProfileSet:
    """Every loaded profile by full name; replaced or extended by `load`/`replace`."""

    def __init__(self) -> None:
        self.by_name: dict[str, CompiledProfile] = {}
        self.top: list[CompiledProfile] = []
        self._nulls: dict[str, CompiledProfile] = {}

    def __len__(self) -> int:
        return len(self.by_name)

    def __contains__(self, name: object) -> bool:
        return name in self.by_name

    def names(self) -> list[str]:
        """Every profile name, children included, in load order."""
        return list(self.by_name)

    def add(self, profiles: Iterable[CompiledProfile]) -> list[CompiledProfile]:
        """Add or replace top-level profiles (with their children); returns them."""
        added = list(profiles)
        for prof in added:
            old = self.by_name.get(prof.name)
            if old is not None:
                for sub in old.walk():
                    self.by_name.pop(sub.name, None)
                self.top = [p for p in self.top if p.name != prof.name]
            self.top.append(prof)
            for sub in prof.walk():
                self.by_name[sub.name] = sub
        self._nulls.clear()
        return added

    def remove(self, name: str) -> None:
        """Unload a top-level profile and its children."""
        prof = self.by_name.get(name)
        if prof is None:
            raise StockadeError(f"no AppArmor profile {name!r} is loaded")
        for sub in prof.walk():
            self.by_name.pop(sub.name, None)
        self.top = [p for p in self.top if p.name != name]

    def get(self, label: str) -> CompiledProfile | None:
        """The profile for a label (`name`, `name (enforce)`, or a null learning profile)."""
        name = label.split(" (", 1)[0] if label.endswith(")") else label
        prof = self.by_name.get(name)
        if prof is None and NULL_MARK in name:
            parent, _, exe = name.partition(NULL_MARK)
            prof = self._nulls.get(name)
            if prof is None and parent in self.by_name:
                prof = self._nulls[name] = null_profile(parent, exe)
        return prof

    def find_attachment(self, exe: str, parent: CompiledProfile | None = None) -> Attachment:
        """The profile that attaches to executable `exe` (among top-level profiles, or the
        children of `parent` for `cx`), as the kernel's find_attach() chooses it."""
        candidates = self.top if parent is None else parent.children
        best: CompiledProfile | None = None
        best_len = -1
        conflict = False
        for prof in candidates:
            if prof.is_hat:
                continue
            spec = prof.attachment
            local = prof.name[len(parent.name) + 2:] if parent is not None else prof.name
            if spec is None and parent is not None and local.startswith("/"):
                spec = local
            if not spec:
                continue
            compiled = Aare.compiled(spec)
            if compiled is None:
                continue
            pattern, regex = compiled
            if pattern.exact:
                if os.path.normpath(spec) == os.path.normpath(exe) or spec == exe:
                    return Attachment(prof)
                continue
            if regex.fullmatch(query_bytes(exe)) is None:
                continue
            count = lead_length(pattern, exe)
            if count > best_len:
                best, best_len, conflict = prof, count, False
            elif count == best_len:
                conflict = True
        if conflict:
            return Attachment(None, "conflicting profile attachments")
        return Attachment(best)


def load_policy(sources: Sequence[str | os.PathLike[str]] | str, include_dirs: Sequence[str] = (),
                *, system: bool = True) -> list[CompiledProfile]:
    """Compile profile files, directories of profile files, or profile text."""
    if isinstance(sources, str | os.PathLike):
        sources = [sources]
    loader = Loader(include_dirs, system=system)
    out: list[CompiledProfile] = []
    for src in sources:
        text = str(src)
        if not is_path(src):
            out.extend(compile_profiles(text, loader=loader))
        elif os.path.isdir(text):
            from stockade.policy.checker import profile_files

            for path in profile_files([text]):
                out.extend(compile_profiles(path, loader=loader))
        else:
            out.extend(compile_profiles(text, loader=loader))
    return out
