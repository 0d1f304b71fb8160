"""Shared fixtures: the mini CIL policy and Debian's imported binary policy (imported once)."""

import os

import pytest

from stockade.modules.selinux.cil.build import load_cil

DATA = os.path.join(os.path.dirname(__file__), "data")
MINI = os.path.join(DATA, "mini.cil")
DEBIAN = "/etc/selinux/default/policy/policy.33"


@pytest.fixture(scope="session")
def mini_policy():
    return load_cil([MINI])


@pytest.fixture
def fresh_mini():
    return load_cil([MINI])


@pytest.fixture(scope="session")
def debian_policy():
    if not os.path.exists(DEBIAN):
        pytest.skip("Debian's selinux-policy-default is not installed")
    from stockade.enforce.plan.cache.dumps import open_cache
    from stockade.modules.selinux import importer

    importer.DUMP_CACHE = open_cache  # as the CLI does: the dump is made once per user
    return importer.import_policy(DEBIAN)
