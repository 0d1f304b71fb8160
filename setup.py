"""Only the optional C extensions: the supervisor's and the audit reader's (the rest is in pyproject.toml).

Optional: without a C compiler or Python headers the install still succeeds and the supervisor
uses its pure-Python path (stockade.enforce.supervisor.fast says which one is in use).
"""

import importlib.util
import os

from setuptools import Extension, setup

_spec = importlib.util.spec_from_file_location(
    "_unotify_build", os.path.join("src", "stockade", "enforce", "supervisor", "_unotify_build.py"))
_mod = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_mod)
_ext = _mod.ffibuilder.distutils_extension(tmpdir="build")
_ext.optional = True  # a failed compile is a warning, not a failed install

# the plan cache hit's batched loops (stockade.enforce.fsbatch falls back to Python), optional too
_fsbatch_spec = importlib.util.spec_from_file_location(
    "_fsbatch_build", os.path.join("src", "stockade", "enforce", "_fsbatch_build.py"))
_fsbatch_mod = importlib.util.module_from_spec(_fsbatch_spec)
_fsbatch_spec.loader.exec_module(_fsbatch_mod)
_fsbatch = _fsbatch_mod.ffibuilder.distutils_extension(tmpdir="build")
_fsbatch.optional = True
# the compiled audit.log reader (CPython C-API; stockade.audit.readers.fast falls back to Python)
_readers = os.path.join("src", "stockade", "audit", "readers")
_reader = Extension("stockade.audit.readers._fastread",
                    sources=[os.path.join(_readers, name) for name in (
                        "_fastread.c", "_fastread_fields.c", "_fastread_syscall.c", "_fastread_event.c",
                        "_fastread_modules.c", "_fastread_rows.c", "_fastread_reader.c")],
                    depends=[os.path.join(_readers, "_fastread.h")],
                    optional=True)
setup(ext_modules=[_ext, _fsbatch, _reader])
