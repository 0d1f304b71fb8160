"""Only the optional C extensions (everything else is in pyproject.toml): the supervisor's and the
batched filesystem loops of a plan cache hit.

Optional: without a C compiler or Python headers the install still succeeds and the supervisor
(stockade.enforce.supervisor.fast says which one is in use) and the plan cache
(stockade.enforce.fsbatch) use their pure-Python paths.
"""

import importlib.util
import os

from setuptools import setup


def _extension(name: str, *where: str) -> object:
    spec = importlib.util.spec_from_file_location(name, os.path.join("src", "stockade", *where))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    ext = mod.ffibuilder.distutils_extension(tmpdir="build")
    ext.optional = True  # a failed compile is a warning, not a failed install
    return ext


setup(ext_modules=[
    _extension("_unotify_build", "enforce", "supervisor", "_unotify_build.py"),
    # the plan cache hit's batched stat / open + landlock_add_rule loops (enforce/fsbatch.py)
    _extension("_fsbatch_build", "enforce", "_fsbatch_build.py"),
])
