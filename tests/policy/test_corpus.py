"""Every Debian profile checks with zero errors, includes resolved."""

from __future__ import annotations

import os

import pytest

from stockade.policy import check
from stockade.policy.checker import profile_files

CORPUS = [d for d in ("/etc/apparmor.d", "/usr/share/apparmor/extra-profiles")
          if os.path.isdir(d)]


@pytest.mark.skipif(not CORPUS, reason="no AppArmor profiles installed on this machine")
def test_debian_corpus_checks_clean() -> None:
    report = check(CORPUS)
    assert report.files == profile_files(CORPUS)
    assert len(report.files) > 10
    assert [str(e) for e in report.errors] == []
    assert len(report.profiles) >= len(report.files) - 5
    # includes really were followed: profiles that include abstractions/base have its rules
    with_base = [p for _f, p in report.profiles
                 if any(r.pos.file.endswith("abstractions/base") for r in p.rules)]
    assert len(with_base) > len(report.profiles) // 2
    for prof in with_base:
        assert prof.file_perms("/etc/ld.so.cache").allows(1), prof.name
