from __future__ import annotations

import pytest

from stockade.policy import CompiledProfile, Loader, compile_profiles


def compile_text(text: str, *, system: bool = False) -> list[CompiledProfile]:
    """Compile profile text against stockade's bundled abstractions only (or /etc too)."""
    return compile_profiles(text, loader=Loader(system=system))


def one(text: str) -> CompiledProfile:
    profs = compile_text(text)
    assert len(profs) == 1
    return profs[0]


@pytest.fixture
def compile_one():
    return one
