import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from stockade.enforce import landlock

if sys.platform != "linux" or landlock.abi_version() < 1:
    pytest.skip("needs Linux with Landlock", allow_module_level=True)
if os.geteuid() != 0:
    pytest.skip("these tests switch to nobody: run them as root", allow_module_level=True)


@pytest.fixture(params=["root", "nobody"])
def user(request: pytest.FixtureRequest) -> str:
    return request.param
