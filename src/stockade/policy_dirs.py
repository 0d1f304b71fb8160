"""Where AppArmor policy files live: the system's directory and stockade's bundled copy.

Kept out of the `policy` package so that `run` can tell a shared abstraction's rule from a
profile's own (enforce/coverage_scope.py) without importing the parser and compiler.
"""

from __future__ import annotations

import os

SYSTEM_DIR = "/etc/apparmor.d"
BUNDLED_DIR = os.path.join(os.path.dirname(os.path.realpath(__file__)), "data", "apparmor.d")
