"""The `k8s` export against the Security Profiles Operator's own CRD schemas.

tests/export/data/spo-crds/ holds the operator's openAPIV3Schema of each kind (README there
names the repository, path and commit). jsonschema validates every document; objects the
schema describes get `additionalProperties: false` as well, because the API server prunes
fields a structural schema does not name: a field it would drop is an error here.
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from stockade import export
from stockade.export.k8s import k8s_name
from stockade.policy import compile_profiles
from tests.policy.test_apparmor_parser import _cases

DATA = Path(__file__).resolve().parent / "data" / "spo-crds"
ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "profiles" / "demo-reader"
CIL = ROOT / "tests" / "selinux" / "data" / "mini.cil"
DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def _pruning(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` with additionalProperties: false wherever it lists properties."""
    out = copy.deepcopy(schema)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if "properties" in node and "additionalProperties" not in node and \
                    not node.get("x-kubernetes-preserve-unknown-fields"):
                node["additionalProperties"] = False
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(out)
    return out


def _crds() -> dict[str, dict[str, Any]]:
    out = {}
    for path in DATA.glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        out[crd["kind"]] = crd
    return out


CRDS = _crds()


def validate(doc: dict[str, Any]) -> None:
    """Raise unless `doc` is a valid resource of its kind (the operator's schema, pruned)."""
    crd = CRDS[doc["kind"]]
    assert doc["apiVersion"] == f"{crd['group']}/{crd['version']}"
    schema = _pruning(crd["openAPIV3Schema"])
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.Draft7Validator(schema).validate(doc)
    name = doc["metadata"]["name"]
    assert len(name) <= 253 and DNS1123_SUBDOMAIN.fullmatch(name), name


def k8s_docs(profile: Path, *cil: Path) -> list[dict[str, Any]]:
    args = [sys.executable, "-m", "stockade", "export", "--format", "k8s", str(profile)]
    for c in cil:
        args += ["--cil", str(c)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return list(yaml.safe_load_all(proc.stdout))


def oci_seccomp(profile: Path) -> dict[str, Any]:
    return json.loads(export.export("oci-seccomp", export.load(str(profile))).text)


def test_the_oracle_can_fail() -> None:
    doc = k8s_docs(DEMO)[0]
    validate(doc)
    for breakage in (lambda d: d["spec"].update(defaultErrnoRet=1),   # pruned by the server
                     lambda d: d["spec"]["syscalls"][0].update(errnoRet="1"),
                     lambda d: d["spec"].update(defaultAction="SCMP_ACT_MAYBE")):
        bad = copy.deepcopy(doc)
        breakage(bad)
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)


def test_demo_profile_resources_validate_and_seccomp_equals_the_oci_export() -> None:
    docs = k8s_docs(DEMO, CIL)
    assert [d["kind"] for d in docs] == ["SeccompProfile", "AppArmorProfile",
                                         "RawSelinuxProfile"]
    for doc in docs:
        validate(doc)
    assert docs[0]["spec"] == oci_seccomp(DEMO)  # default action ALLOW: nothing to drop
    abstract = docs[1]["spec"]["abstract"]
    assert abstract["filesystem"]["readOnlyPaths"] == ["/usr/share/**", "/etc/hostname"]
    assert abstract["executable"]["allowedExecutables"] == ["/usr/bin/cat"]
    assert abstract["capability"]["allowedCapabilities"] == ["dac_read_search"]
    assert docs[2]["spec"]["policy"] == CIL.read_text()
    assert {d["metadata"]["name"] for d in docs} == {"demo-reader"}


def test_default_errno_the_crd_cannot_carry_is_reported(tmp_path: Path) -> None:
    prof = tmp_path / "d.prof"
    prof.write_text("profile d {\n  /etc/hostname r,\n  deny syscall default errno=EACCES,\n"
                    "  syscall (read write exit_group),\n}\n")
    proc = subprocess.run([sys.executable, "-m", "stockade", "export", "--format", "k8s",
                           "-v", str(prof)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    seccomp = next(yaml.safe_load_all(proc.stdout))
    validate(seccomp)
    want = oci_seccomp(prof)
    assert want.pop("defaultErrnoRet") == 13
    assert seccomp["spec"] == want
    assert "no defaultErrnoRet" in proc.stderr


SYSTEM = sorted(p for p in Path("/etc/apparmor.d").glob("*") if p.is_file()
                and p.name.startswith(("usr.", "sbin.", "bin.")))


@pytest.mark.parametrize("profile", SYSTEM, ids=lambda p: p.name)
def test_system_profiles_export_valid_resources(profile: Path, tmp_path: Path) -> None:
    for prof in compile_profiles(str(profile)):
        inp = export.load(str(profile), name=prof.name)
        docs = list(yaml.safe_load_all(export.export("k8s", inp).text))
        for doc in docs:
            validate(doc)
        want = json.loads(export.export("oci-seccomp", inp).text)
        want.pop("defaultErrnoRet", None)
        assert docs[0]["spec"] == want


@pytest.mark.parametrize(("name", "text"), [c for c in _cases() if c[0].startswith("valid")][:8],
                         ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "")
def test_generated_profiles_export_valid_resources(name: str, text: str,
                                                   tmp_path: Path) -> None:
    src = tmp_path / "gen.prof"
    src.write_text(text)
    inp = export.load(str(src), name="gen")
    result = export.export("k8s", inp)
    for doc in yaml.safe_load_all(result.text):
        validate(doc)
    assert all("k8s:" in e.line() for e in result.lost)


@pytest.mark.parametrize(("name", "want"), [
    ("/usr/bin/man", "usr-bin-man"), ("demo-reader", "demo-reader"),
    ("Foo Bar//^hat", "foo-bar-hat"), ("a.b_c", "a.b-c")])
def test_names_are_dns1123_subdomains(name: str, want: str) -> None:
    assert k8s_name(name) == want and DNS1123_SUBDOMAIN.fullmatch(want)


def test_cil_only_with_k8s_and_bad_cil_is_one_line(tmp_path: Path) -> None:
    base = [sys.executable, "-m", "stockade", "export", str(DEMO)]
    wrong = subprocess.run([*base, "--format", "oci-seccomp", "--cil", str(CIL)],
                           capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 2 and "--cil goes with --format k8s" in wrong.stderr
    missing = subprocess.run([*base, "--format", "k8s", "--cil", str(tmp_path / "none.cil")],
                             capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0 and "none.cil" in missing.stderr
    assert "Traceback" not in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
