"""Parse, resolve, compile and lint files or directories of profiles (`stockade check`)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stockade.policy import collector
from stockade.policy.compiler import CompiledProfile, compile_profiles
from stockade.policy.errors import PolicyError
from stockade.policy.includes import Loader, skipped_name
from stockade.policy.lint import LintWarning, lint


@dataclass
class CheckReport:
    """What checking some files found: compiled profiles per file, errors, warnings."""

    files: list[str] = field(default_factory=list)
    profiles: list[tuple[str, CompiledProfile]] = field(default_factory=list)
    errors: list[PolicyError] = field(default_factory=list)
    warnings: list[LintWarning] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """No errors."""
        return not self.errors


def profile_files(paths: Sequence[str]) -> list[str]:
    """Files to check: each file given, and each regular file directly in a directory given
    (dotfiles, backups and README skipped; subdirectories such as abstractions/ are not
    profiles)."""
    out: list[str] = []
    for p in paths:
        if os.path.isdir(p):
            for name in sorted(os.listdir(p)):
                full = os.path.join(p, name)
                if os.path.isfile(full) and not skipped_name(name):
                    out.append(full)
        else:
            out.append(p)
    return out


def check(paths: Sequence[str], include_dirs: Sequence[str] = (), *,
          run_lint: bool = True, loader: Loader | None = None,
          on_file: Callable[[str], None] | None = None) -> CheckReport:
    """Check every profile file under `paths`; one broken file does not stop the others.
    `on_file(path)` is called as each file is taken up (the CLI's progress)."""
    loader = loader or Loader(include_dirs)
    report = CheckReport()
    for path in profile_files(paths):
        if on_file is not None:
            on_file(path)
        report.files.append(path)
        try:
            with collector.paused():
                compiled = compile_profiles(Path(path), loader=loader)  # a name, even with \n
        except PolicyError as err:
            report.errors.append(err)
            continue
        for prof in compiled:
            for sub in prof.walk():
                report.profiles.append((path, sub))
        if run_lint:
            report.warnings.extend(lint(compiled))
    return report
