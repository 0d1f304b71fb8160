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


P = {"policy_sha256": "p" * 64, "format": 2}
Q = {"policy_sha256": "q" * 64, "format": 2}


def test_a_rewritten_dump_is_dropped(cache):
    cache.save("p-v2.json", {"types": ["a_t"], "permissive": []}, P)
    assert cache.load("p-v2.json", P) == {"types": ["a_t"], "permissive": []}
    path = os.path.join(cache.store.directory, "p-v2.json")
    with open(path, "rb") as f:
        data = f.read().replace(b'"permissive":[]', b'"permissive":["a_t"]')
    with open(path, "wb") as f:  # what a sandbox with --rw ~/.cache could do
        f.write(data)
    assert cache.load("p-v2.json", P) is None
    assert not os.path.exists(path)


def test_another_policys_authentic_dump_is_dropped(cache):
    """Red team 13: the MAC covered the body, not which policy it is the dump of; a sandbox
    that may write ~/.cache copied the authentic (permissive) dump of another policy over
    this policy's entry and the next run decided by it. The body names its policy now."""
    cache.save("p-v2.json", {"types": [["a_t", [], False]]}, P)
    cache.save("q-v2.json", {"types": [["a_t", [], True]]}, Q)
    directory = cache.store.directory
    os.replace(os.path.join(directory, "q-v2.json"), os.path.join(directory, "p-v2.json"))
    assert cache.load("p-v2.json", P) is None
    assert not os.path.exists(os.path.join(directory, "p-v2.json"))
    cache.save("p-v2.json", {"types": [["a_t", [], False]]}, P)
    assert cache.load("p-v2.json", {**P, "format": 3}) is None  # another dump format


def test_a_planted_link_is_not_written_through(cache, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for name in ("p-v2.json", f".p-v2.json.{os.getpid()}.tmp"):
        os.symlink(victim, os.path.join(cache.store.directory, name))
    cache.save("p-v2.json", {"types": []}, P)
    assert victim.read_text() == "precious\n"
    assert cache.load("p-v2.json", P) in (None, {"types": []})


def test_an_oversized_policy_is_refused_before_it_is_read_whole(tmp_path, monkeypatch):
    """The importer holds the policy's bytes (hashed, then handed to the helper): bounded."""
    from stockade.errors import StockadeError
    from stockade.modules.selinux import importer

    big = tmp_path / "policy.33"
    big.write_bytes(b"\x8c\xff\x7c\xf9" + b"\0" * 4096)
    monkeypatch.setattr(importer, "MAX_POLICY_BYTES", 4096)
    with pytest.raises(StockadeError, match="larger than"):
        importer.dump_policy(str(big), use_cache=False)
