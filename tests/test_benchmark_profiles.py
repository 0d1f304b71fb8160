"""The profiles the benchmarks run must compile on this host, or the benchmarks measure nothing."""

from pathlib import Path

import pytest

from stockade.policy import compile_profiles

PROFILES = sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "profiles").glob("*.aa"))


@pytest.mark.parametrize("path", PROFILES, ids=[p.name for p in PROFILES])
def test_benchmark_profile_compiles(path: Path) -> None:
    profiles = compile_profiles(path)
    assert profiles
