"""Labels on real files: helpers, `stockade label set|get|restore`, and the stack end to end."""

import json
import os
import subprocess
import sys

import pytest
from label_helpers import stack_of, subj

from stockade.errors import StockadeError, UsageError
from stockade.lsm.probe import file_object
from stockade.lsm.types import MAY_OPEN, MAY_READ, MAY_WRITE, Object, Request
from stockade.modules import labels as lb
from stockade.modules.biba import Biba
from stockade.modules.smack import Smack


def stockade(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "stockade", *args], capture_output=True,
                            text=True, timeout=60)
    if check and result.returncode:
        raise AssertionError(f"exit {result.returncode}: {result.stderr}")
    return result


# -- helpers ----------------------------------------------------------------------------------

def test_parse_contexts() -> None:
    assert lb.parse_contexts(["smack=foo", " biba = high:a "]) == (("smack", "foo"),
                                                                  ("biba", "high:a"))
    for bad in (["smack"], ["smack="], ["=x"], ["Smack!=x"], ["biba=a", "biba=b"]):
        with pytest.raises(UsageError):
            lb.parse_contexts(bad)


def test_label_of_fd_path_and_object(tmp_path) -> None:
    path = tmp_path / "f"
    path.write_text("x")
    assert lb.label_of_path(str(path), "smack") is None
    lb.set_label(str(path), "smack", "Data")
    fd = os.open(path, os.O_RDONLY)
    try:
        assert lb.label_of_fd(fd, "smack") == "Data"
        assert lb.label_of_fd(fd, "biba") is None
    finally:
        os.close(fd)
    obj = file_object(str(path))
    assert lb.label_of(obj, "smack") == "Data"
    assert lb.object_labels(obj) == {"smack": "Data"}
    assert lb.remove_label(str(path), "smack") and not lb.remove_label(str(path), "smack")
    with pytest.raises(StockadeError, match="cannot read label"):
        lb.label_of_path(str(tmp_path / "absent"), "smack")


def test_decode_label_stops_at_nul_and_newline() -> None:
    assert lb.decode_label(b"Label\x00junk") == "Label"
    assert lb.decode_label(b" high \n") == "high"


def test_transition_subject_applies_each_module() -> None:
    smack, biba = Smack(), Biba(model="lwm")
    exe = Object(kind="file", path="/usr/bin/tool", mode=0o100755,
                 xattrs=(("user.stockade.smack.exec", b"Shell"), ("user.stockade.biba", b"low")))
    after = lb.transition_subject(subj(smack="App", biba="high"), exe, [smack, biba])
    assert after.context("smack") == "Shell" and after.context("biba") == "low"


def test_file_contexts_precedence() -> None:
    fc = lb.FileContexts.parse(
        "/srv(/.*)?            Srv\n"
        "/srv/www(/.*)?        Web\n"
        "/srv/.*\\.key    --   Key\n"
        "/srv/www/index\\.html  Index   # exact path (an unescaped dot would be a regex)\n"
        "/srv/(.*/)?cache -d   <<none>>\n"
        "/srv/www(/.*)?        Web2\n")
    assert fc.lookup("/srv/a").label == "Srv"
    assert fc.lookup("/srv/www/x").label == "Web2"  # later of equal kind wins
    assert fc.lookup("/srv/www/index.html").label == "Index"  # exact beats every regex
    assert fc.lookup("/srv/www/a.key", 0o100600).label == "Web2"  # Web2 is later than Key
    assert fc.lookup("/srv/a.key", 0o100600).label == "Key"
    assert fc.lookup("/srv/a.key", 0o040755).label == "Srv"  # -- matches regular files only
    assert fc.lookup("/srv/x/cache", 0o040755).label == "<<none>>"
    assert fc.lookup("/srvx") is None  # anchored
    with pytest.raises(StockadeError, match=r"fc:2: unknown file type '-q'"):
        lb.FileContexts.parse("/a A\n/b -q B\n", "fc")
    with pytest.raises(StockadeError, match=r"fc:1: bad regex"):
        lb.FileContexts.parse("/a( A\n", "fc")
    with pytest.raises(StockadeError, match=r"fc:1: expected REGEX \[TYPE\] LABEL"):
        lb.FileContexts.parse("/a -- B C\n", "fc")


# -- the CLI ----------------------------------------------------------------------------------

def test_label_set_and_get(tmp_path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.write_text("")
    b.write_text("")
    stockade("label", "set", "--module", "smack", "Secret", str(a), str(b))
    stockade("label", "set", "-m", "biba", "high", str(a))
    assert os.getxattr(a, "user.stockade.smack") == b"Secret"
    out = json.loads(stockade("label", "get", "--json", str(a), str(b)).stdout)
    assert out == [{"path": str(a), "labels": {"biba": "high", "smack": "Secret"}},
                   {"path": str(b), "labels": {"smack": "Secret"}}]
    out = json.loads(stockade("label", "get", "--json", "-m", "biba", str(b)).stdout)
    assert out == [{"path": str(b), "labels": {}}]
    text = stockade("label", "get", str(a)).stdout
    assert "biba" in text and "Secret" in text


def test_label_set_errors_are_one_line(tmp_path) -> None:
    bad = stockade("label", "set", "-m", "smack", "a/b", str(tmp_path), check=False)
    assert bad.returncode == 2 and "invalid smack label" in bad.stderr
    missing = stockade("label", "set", "-m", "smack", "A", str(tmp_path / "nope"), check=False)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1
    assert "No such file" in missing.stderr


def test_label_restore(tmp_path) -> None:
    root = tmp_path / "srv"
    (root / "www").mkdir(parents=True)
    (root / "www" / "index.html").write_text("")
    (root / "keep").mkdir()
    (root / "keep" / "f").write_text("")
    (root / "site.key").write_text("")
    os.setxattr(root / "keep", "user.stockade.smack", b"Manual")
    contexts = tmp_path / "contexts"
    contexts.write_text(f"{root}(/.*)?  Srv\n{root}/www(/.*)?  Web\n{root}/.*\\.key -- Key\n"
                        f"{root}/keep -d <<none>>\n")
    dry = stockade("label", "restore", "--contexts", str(contexts), "-m", "smack", "-R", "-n", "-v",
                   str(root))
    assert f"Would relabel {root}/www/index.html from (unlabelled) to Web" in dry.stdout
    assert lb.label_of_path(str(root / "www" / "index.html"), "smack") is None
    stockade("label", "restore", "-f", str(contexts), "-m", "smack", "-R", str(root))
    labels = {p: lb.label_of_path(str(root / p), "smack") for p in
              ("www", "www/index.html", "keep", "keep/f", "site.key")}
    assert labels == {"www": "Web", "www/index.html": "Web", "keep": "Manual", "keep/f": "Srv",
                      "site.key": "Key"}
    again = json.loads(stockade("label", "restore", "-f", str(contexts), "-m", "smack", "-R",
                                "--json", str(root)).stdout)
    assert not any(a["changed"] for a in again)
    contexts.write_text("/x  a/b\n")
    bad = stockade("label", "restore", "-f", str(contexts), "-m", "smack", str(root), check=False)
    assert bad.returncode == 2 and f"{contexts}:1:" in bad.stderr


# -- end to end -------------------------------------------------------------------------------

def test_real_files_through_capability_and_biba(tmp_path) -> None:
    """Files labelled with xattrs, read by the probe, decided by the stack."""
    high, low, plain = tmp_path / "high", tmp_path / "low", tmp_path / "plain"
    for p in (high, low, plain):
        p.write_text("x")
    stockade("label", "set", "-m", "biba", "high", str(high))
    stockade("label", "set", "-m", "biba", "low", str(low))
    stack = stack_of(Biba(default_level="medium"))
    medium = subj(biba="medium")

    def decide(path, mask):
        return stack.decide(Request("file_open", medium, file_object(str(path)), mask | MAY_OPEN))

    assert decide(high, MAY_READ).allowed
    assert not decide(high, MAY_WRITE).allowed
    assert not decide(low, MAY_READ).allowed
    assert decide(low, MAY_WRITE).allowed
    assert decide(plain, MAY_READ | MAY_WRITE).allowed  # unlabelled: the default, medium
    fd = os.open(high, os.O_RDONLY)
    try:
        assert lb.label_of_fd(fd, "biba") == "high"
    finally:
        os.close(fd)


def test_real_files_through_smack(tmp_path) -> None:
    directory = tmp_path / "vault"
    directory.mkdir()
    secret = directory / "secret"
    secret.write_text("x")
    lb.set_label(str(directory), "smack", "Vault")
    lb.set_label(str(secret), "smack", "Vault")
    stack = stack_of(Smack(rules_text="App Vault rx"))
    obj = file_object(str(secret))
    assert stack.decide(Request("file_open", subj(smack="App"), obj, MAY_READ | MAY_OPEN)).allowed
    assert not stack.decide(Request("file_open", subj(smack="App"), obj,
                                    MAY_WRITE | MAY_OPEN)).allowed
    assert not stack.decide(Request("file_open", subj(smack="Other"), obj,
                                    MAY_READ | MAY_OPEN)).allowed
