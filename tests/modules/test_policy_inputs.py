"""modules/policy_inputs.py: the one list of what a module stack reads its policy from (red
team 13: `run` judges it as it judges a profile's inputs)."""

from __future__ import annotations

import json

from stockade.modules.policy_inputs import run_inputs


def test_each_modules_policy_options_are_inputs(tmp_path):
    cil, rules, abac = tmp_path / "a.cil", tmp_path / "smack.rules", tmp_path / "p.cel"
    tom = tmp_path / "tomoyo"
    opts = [f"selinux.policy_paths={json.dumps([str(cil)])}", f"smack.rules_file={rules}",
            f"abac.policy_file={abac}", f"tomoyo.policy_dir={tom}"]
    found = run_inputs("selinux,smack,abac,tomoyo", opts)
    assert str(cil) in found and str(rules) in found and str(abac) in found
    # TOMOYO's directory by its four files, present or not (not an out/ beside them)
    assert {p for p in found if p.startswith(str(tom))} == {
        str(tom / n) for n in ("domain_policy.conf", "exception_policy.conf", "profile.conf",
                               "manager.conf")}


def test_a_module_not_on_the_stack_reads_nothing(tmp_path):
    assert run_inputs("capability", [f"tomoyo.policy_dir={tmp_path}"]) == []


def test_apparmor_profiles_and_their_includes_are_inputs(tmp_path):
    inc = tmp_path / "inc"
    inc.write_text("/etc/** r,\n")
    prof = tmp_path / "p.aa"
    prof.write_text(f'profile p {{\n  #include "{inc}"\n}}\n')
    found = run_inputs("apparmor", [f"apparmor.profiles={json.dumps([str(prof)])}",
                                    "apparmor.system_includes=false"])
    assert str(prof) in found and str(inc) in found
    assert "/etc/apparmor.d" not in found
    # profile text names no file of its own; what it includes still counts
    text = f'profile q {{\n  #include "{inc}"\n}}\n'
    found = run_inputs("apparmor", [f"apparmor.profiles={json.dumps([text])}"])
    assert str(inc) in found and not any("profile q" in p for p in found)
