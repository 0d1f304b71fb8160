"""Policy analysis on the mini policy, and the `stockade analyze` command."""

import json
import os
import shutil

import pytest

from stockade.cli.main import main
from stockade.modules.selinux.analysis import Analyzer, Flow, FlowGraph

MINI = os.path.join(os.path.dirname(__file__), "data", "mini.cil")


@pytest.fixture
def an(fresh_mini):
    return Analyzer(fresh_mini)


def test_who_can_read_and_write(an):
    readers = {d for d, c, _ in an.who_can("read", "shadow_t") if c == "file"}
    assert readers == {"passwd_t", "sshd_t", "sysadm_t"}  # dontaudit and neverallow do not count
    writers = {d for d, _, _ in an.who_can("write", "shadow_t")}
    assert writers == {"passwd_t", "sysadm_t"}
    assert an.who_can("read", "shadow_t", "dir") == []


def test_who_can_follows_booleans(an):
    assert an.who_can("name_connect", "http_port_t") == []
    an.p.set_boolean("httpd_can_network_connect", True)
    assert an.who_can("name_connect", "http_port_t") == [("httpd_t", "tcp_socket", ["name_connect"])]


def test_information_flow_paths(an):
    graph = an.flow_graph("shadow_t", min_weight=9, max_depth=3)
    out = graph.edges["selinux:shadow_t"]
    assert {"selinux:passwd_t", "selinux:sshd_t", "selinux:sysadm_t"} <= set(out)
    paths = graph.paths("selinux:shadow_t", "selinux:user_t", min_weight=9, max_depth=3)
    assert paths and all(f.weight >= 9 for p in paths for f in p)
    assert paths[0][0].src == "selinux:shadow_t" and paths[0][-1].dst == "selinux:user_t"
    # a lighter threshold admits the signal edge sshd_t -> user_t (process signal's weight in
    # SETools' permission map, or in the built-in one without SETools)
    light = an.flow_graph("shadow_t", min_weight=1, max_depth=2)
    step = light.paths("selinux:shadow_t", "selinux:user_t", max_depth=2)[0][1]
    assert step.weight == an.perm_map.get("process", "signal")[1] < 9


def test_flow_graph_takes_other_modules_edges():
    g = FlowGraph()
    g.add(Flow("selinux:a_t", "smack:B", 4, ("x",)))
    g.add(Flow("smack:B", "selinux:c_t", 7))
    assert [f.dst for f in g.paths("selinux:a_t", "selinux:c_t")[0]] == ["smack:B", "selinux:c_t"]
    assert '"smack:B" -> "selinux:c_t"' in g.to_dot()


def test_domain_transitions(an):
    assert an.transitions(an.p.type_id("user_t")) == [("passwd_t", "passwd_exec_t", True)]
    paths = an.transition_paths("staff_t", "sshd_t")
    assert paths == [[("staff_t", "sshd_t", "sshd_exec_t", True)]]
    assert an.transition_paths("user_t", "sshd_t") == []


def test_mls_write_down(an):
    rows = an.mls_write_down()
    assert rows and {s for s, _, _, _ in rows} == {"sysadm_t"}  # only the mlsfilewrite domain
    assert an.mls_write_down("user_t") == []


def test_cli_who_can_json(capsys):
    assert main(["analyze", "--policy", MINI, "who-can", "read", "shadow_t", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {d["domain"] for d in data["domains"]} == {"passwd_t", "sshd_t", "sysadm_t"}


def test_cli_text_and_dot(tmp_path, capsys):
    dot = tmp_path / "dta.dot"
    assert main(["analyze", "dta", "user_t", "--policy", MINI, "--dot", str(dot)]) == 0
    out = capsys.readouterr().out
    assert "passwd_t" in out and dot.read_text().startswith('digraph "dta"')
    if shutil.which("dot"):
        assert (tmp_path / "dta.svg").read_text().lstrip().startswith(("<?xml", "<svg"))
    assert main(["analyze", "--policy", MINI, "--boolean", "httpd_can_network_connect=on",
                 "infoflow", "httpd_t", "--min-weight", "1"]) == 0
    assert "http_port_t" in capsys.readouterr().out
    assert main(["analyze", "--policy", MINI, "mls-violations"]) == 0
    assert "sysadm_t" in capsys.readouterr().out


def test_cli_errors_are_one_line(capsys):
    assert main(["analyze", "--policy", MINI, "who-can", "read", "nope_t"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "stockade analyze: unknown type 'nope_t'"
    assert main(["analyze", "--policy", "/nonexistent.cil", "dta", "x"]) == 2
    bad = os.path.join(os.path.dirname(MINI), "..", "bad.cil")
    assert not os.path.exists(bad)
