"""The SETools dump cache is the plan cache's kind of store (red team 12): private, pinned,
each entry authenticated with the key in the user's kernel keyring. A dump rewritten by a
sandbox that may write ~/.cache is dropped, not believed, and a link planted where the
launcher writes is not followed."""

from __future__ import annotations

import os

import pytest


@pytest.fixture
def cache(tmp_path, monkeypatch):
    from stockade.enforce.plan.cache.dumps import open_cache

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    opened = open_cache()
    if opened is None:
        pytest.skip("no kernel keyring for the cache's key here")
    yield opened
    opened.close()


def test_a_rewritten_dump_is_dropped(cache):
    cache.save("p-v2.json", {"types": ["a_t"], "permissive": []})
    assert cache.load("p-v2.json") == {"types": ["a_t"], "permissive": []}
    path = os.path.join(cache.store.directory, "p-v2.json")
    with open(path, "rb") as f:
        data = f.read().replace(b'"permissive":[]', b'"permissive":["a_t"]')
    with open(path, "wb") as f:  # what a sandbox with --rw ~/.cache could do
        f.write(data)
    assert cache.load("p-v2.json") is None
    assert not os.path.exists(path)


def test_a_planted_link_is_not_written_through(cache, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for name in ("p-v2.json", f".p-v2.json.{os.getpid()}.tmp"):
        os.symlink(victim, os.path.join(cache.store.directory, name))
    cache.save("p-v2.json", {"types": []})
    assert victim.read_text() == "precious\n"
    assert cache.load("p-v2.json") in (None, {"types": []})
