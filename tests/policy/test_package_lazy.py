"""stockade.policy loads its public names when first asked for: importing one submodule (aare,
as a plan cache hit does for the program's own /proc rules) leaves the parser, compiler and
checker unloaded, and every public name is what it was when the package imported them all."""

from __future__ import annotations

import subprocess
import sys

import stockade.policy as policy


def _fresh(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_a_submodule_does_not_load_the_parser_compiler_and_checker():
    loaded = _fresh("import sys, stockade.policy.aare, stockade.policy.matcher\n"
                    "print(sorted(m for m in sys.modules if m.startswith('stockade.policy')))")
    for heavy in ("parser", "compiler", "checker", "includes", "lint"):
        assert f"stockade.policy.{heavy}'" not in loaded, loaded
    assert "stockade.policy.aare'" in loaded


def test_every_public_name_resolves_to_its_submodules_object():
    from stockade.policy import checker, compiler, errors, includes, matcher, modes
    from stockade.policy.lint import LintWarning
    from stockade.policy.lint import lint as lint_function

    for name in policy.__all__:
        assert getattr(policy, name) is not None, name
    assert policy.lint is lint_function and policy.Warning is LintWarning
    assert policy.check is checker.check and policy.CompiledProfile is compiler.CompiledProfile
    assert policy.PolicyError is errors.PolicyError and policy.load is includes.load
    assert policy.FilePerms is matcher.FilePerms and policy.Perm is modes.Perm


def test_lint_stays_the_function_when_its_submodule_loads_first():
    out = _fresh("import stockade.policy.checker, sys\n"  # checker imports the lint submodule
                 "assert 'stockade.policy.lint' in sys.modules\n"
                 "from stockade.policy import lint\n"
                 "print(callable(lint), type(lint).__name__)")
    assert out == "True function"
    try:
        policy.no_such_name  # noqa: B018
    except AttributeError as err:
        assert "no_such_name" in str(err)
    else:
        raise AssertionError("an unknown name must raise AttributeError")
