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
    from stockade.modules.selinux.importer import import_policy
    return import_policy(DEBIAN)
