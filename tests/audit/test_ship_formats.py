"""Shipping formats against oracles no one here wrote.

ECS: the field -> type table copied from elastic/ecs (tests/audit/data/ecs_fields.csv) and the
allowed values of the categorization fields. OTLP: opentelemetry-proto's `LogsData` read with
protobuf's own JSON parser (google.protobuf.json_format.Parse, unknown fields refused).
RFC 5424: a strict regular expression written from the RFC's ABNF (section 6).
"""

from __future__ import annotations

import csv
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.proto.logs.v1.logs_pb2 import LogsData, SeverityNumber

from stockade.audit.formats import kernel_line
from stockade.audit.readers import records_from_lines
from stockade.audit.record import AuditRecord
from stockade.audit.ship import encode, otlp, rfc5424
from stockade.audit.ship.ecs import ecs_document
from stockade.audit.ship.fields import ship_fields
from tests.audit.conftest import SAMPLE
from tests.audit.test_parser import LANDLOCK_FS, SELINUX

DATA = Path(__file__).resolve().parent / "data"
HOST = "node-7.example"


def _records() -> list[AuditRecord]:
    text = "\n".join(t.strip("\n") for t in (SAMPLE, LANDLOCK_FS, SELINUX))
    out = list(records_from_lines(text.splitlines()))
    out.append(AuditRecord(time=1700000100.5, serial=99, operation="socket_connect",
                           module="capability", result="DENIED", pid=42, comm="curl",
                           exe="/usr/bin/curl", uid=1000, object="127.0.0.1:80",
                           requested="connect", reason="no rule allows TCP connect to 80"))
    out.append(AuditRecord(time=1700000101.25, serial=100, operation="file_open",
                           module="apparmor", result="ALLOWED", pid=7, comm='we"ird]\\',
                           object='/srv/é "x"]', profile="demo", requested="r", denied="r"))
    return out


RECORDS = _records()


def test_corpus_covers_every_result_and_category() -> None:
    assert {r.result for r in RECORDS} == {"DENIED", "ALLOWED", "AUDIT"}
    cats = {ship_fields(r, HOST).fields["event.category"][0] for r in RECORDS}
    assert {"file", "network", "process"} <= cats


# ---- ECS -----------------------------------------------------------------------------------

def _ecs_table() -> dict[str, tuple[str, bool]]:
    rows = (line for line in (DATA / "ecs_fields.csv").read_text().splitlines()
            if not line.startswith("#"))
    return {r["field"]: (r["type"], r["array"] == "array") for r in csv.DictReader(rows)}


def _allowed() -> dict[str, set[str]]:
    out = {}
    for line in (DATA / "ecs_allowed_values.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            key, values = line.split(":", 1)
            out[key] = set(values.split())
    return out


def _flatten(doc: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in doc.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, name + "."))
        else:
            out[name] = value
    return out


ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})")


def _has_type(value: Any, ecs_type: str) -> bool:
    if ecs_type == "long":
        return isinstance(value, int) and not isinstance(value, bool) and -2**63 <= value < 2**63
    if ecs_type == "date":
        return isinstance(value, str) and bool(ISO_DATE.fullmatch(value))
    if ecs_type in ("keyword", "match_only_text"):
        return isinstance(value, str)
    raise AssertionError(f"no check for ECS type {ecs_type}")


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r.module}-{r.operation}")
def test_ecs_fields_have_their_ecs_types(record: AuditRecord) -> None:
    table, allowed = _ecs_table(), _allowed()
    doc = json.loads(json.dumps(ecs_document(record, HOST)))
    flat = _flatten(doc)
    for name, value in flat.items():
        if name.startswith("stockade."):  # stockade's own namespace (ECS custom fields)
            assert isinstance(value, str)
            continue
        assert name in table, f"{name} is not an ECS field stockade declared"
        ecs_type, is_array = table[name]
        values = value if isinstance(value, list) else [value]
        assert is_array or not isinstance(value, list), f"{name} is not an array field"
        assert all(_has_type(v, ecs_type) for v in values), f"{name}={value!r} not {ecs_type}"
        if name in allowed:
            assert set(values) <= allowed[name], f"{name}={value!r}"
    assert flat["host.name"] == HOST
    assert flat["event.outcome"] == {"DENIED": "failure"}.get(record.result, "success")
    assert datetime.fromisoformat(flat["@timestamp"]).timestamp() == pytest.approx(record.time,
                                                                                 abs=1e-3)
    assert flat["message"] == kernel_line(record)
    if record.pid:
        assert flat["process.pid"] == record.pid


def test_ecs_names_the_profile_and_path_of_an_apparmor_denial() -> None:
    rec = next(r for r in RECORDS if r.module == "apparmor" and r.result == "DENIED")
    flat = _flatten(ecs_document(rec, HOST))
    assert (flat["rule.name"], flat["file.path"], flat["event.action"]) == (
        "/usr/sbin/cupsd", "/etc/shadow", "open")
    assert flat["process.executable"] == "/usr/sbin/cupsd" and flat["event.category"] == ["file"]
    net = next(r for r in RECORDS if r.operation == "socket_connect")
    flat = _flatten(ecs_document(net, HOST))
    assert (flat["destination.address"], flat["destination.port"]) == ("127.0.0.1", 80)


# ---- OTLP ----------------------------------------------------------------------------------

def test_otlp_parses_with_the_opentelemetry_proto_json_mapping() -> None:
    lines = list(encode("otlp", RECORDS, HOST))
    assert len(lines) == 1
    data = json_format.Parse(lines[0], LogsData(), ignore_unknown_fields=False)
    (resource_logs,) = data.resource_logs
    resource = {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}
    assert resource == {"host.name": HOST, "service.name": "stockade"}
    (scope_logs,) = resource_logs.scope_logs
    assert scope_logs.scope.name == "stockade.audit"
    logs = scope_logs.log_records
    assert len(logs) == len(RECORDS)
    for rec, log in zip(RECORDS, logs, strict=True):
        assert log.time_unix_nano == round(rec.time * 1e6) * 1000
        assert log.body.string_value == kernel_line(rec)
        want = SeverityNumber.SEVERITY_NUMBER_WARN if rec.result == "DENIED" else (
            SeverityNumber.SEVERITY_NUMBER_INFO2 if rec.result == "ALLOWED"
            else SeverityNumber.SEVERITY_NUMBER_INFO)
        assert log.severity_number == want
        attrs = {kv.key: kv.value for kv in log.attributes}
        assert attrs["event.action"].string_value == rec.operation
        assert attrs["event.sequence"].int_value == rec.serial
        if rec.pid:
            assert attrs["process.pid"].int_value == rec.pid
        assert attrs["event.type"].array_value.values[0].string_value in (
            "denied", "allowed")


def test_otlp_integers_are_json_strings_as_the_mapping_requires() -> None:
    doc = json.loads(otlp.otlp_json(RECORDS[:1], HOST))
    log = doc["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert isinstance(log["timeUnixNano"], str) and isinstance(log["severityNumber"], int)
    ints = [a["value"]["intValue"] for a in log["attributes"] if "intValue" in a["value"]]
    assert ints and all(isinstance(v, str) for v in ints)


def test_otlp_batches_are_bounded() -> None:
    many = RECORDS * 700  # more than one batch
    lines = list(encode("otlp", many, HOST))
    counts = [len(json.loads(x)["resourceLogs"][0]["scopeLogs"][0]["logRecords"]) for x in lines]
    assert counts == [1000] * (len(many) // 1000) + ([len(many) % 1000] if len(many) % 1000
                                                      else [])


# ---- RFC 5424 ------------------------------------------------------------------------------
# SYSLOG-MSG = HEADER SP STRUCTURED-DATA [SP MSG]; HEADER = PRI VERSION SP TIMESTAMP SP
# HOSTNAME SP APP-NAME SP PROCID SP MSGID; PRI = "<" 1*3DIGIT ">"; VERSION = NONZERO-DIGIT
# 0*2DIGIT; each header field NILVALUE or 1*N PRINTUSASCII; TIMESTAMP = FULL-DATE "T"
# FULL-TIME (TIME-SECFRAC 1*6DIGIT, TIME-OFFSET "Z" / +-HH:MM); SD-ELEMENT = "[" SD-ID
# *(SP SD-PARAM) "]"; SD-NAME = 1*32 PRINTUSASCII except '=', SP, ']', '"'; PARAM-VALUE is
# UTF-8 with '"', '\' and ']' escaped by '\'.

PRINT = r"[\x21-\x7e]"
SD_NAME = r'[!#-<>-\\^-~]{1,32}'  # PRINTUSASCII minus '"' (0x22), '=' (0x3d), ']' (0x5d)
PARAM_VALUE = r'(?:[^"\\\]]|\\["\\\]])*'
SD_PARAM = rf'{SD_NAME}="{PARAM_VALUE}"'
SD_ELEMENT = rf"\[{SD_NAME}(?: {SD_PARAM})*\]"
TIMESTAMP = (r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])T(?:[01]\d|2[0-3]):[0-5]\d:"
             r"(?:[0-5]\d|60)(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)")
RFC5424 = re.compile(
    rf"<(?P<pri>\d{{1,3}})>(?P<version>[1-9]\d{{0,2}}) (?P<ts>-|{TIMESTAMP}) "
    rf"(?P<host>-|{PRINT}{{1,255}}) (?P<app>-|{PRINT}{{1,48}}) (?P<procid>-|{PRINT}{{1,128}}) "
    rf"(?P<msgid>-|{PRINT}{{1,32}}) (?P<sd>-|(?:{SD_ELEMENT})+)(?: (?P<msg>.*))?", re.DOTALL)
PARAM = re.compile(rf'({SD_NAME})="({PARAM_VALUE})"')


def _unescape(value: str) -> str:
    return re.sub(r'\\(["\\\]])', r"\1", value)


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: f"{r.module}-{r.operation}")
def test_syslog_lines_parse_as_rfc5424(record: AuditRecord) -> None:
    line = rfc5424.message(record, HOST)
    m = RFC5424.fullmatch(line)
    assert m, line
    pri = int(m["pri"])
    assert pri // 8 == 10 and pri % 8 == {"DENIED": 4, "ALLOWED": 5}.get(record.result, 6)
    assert (m["host"], m["app"], m["msgid"], m["msg"]) == (HOST, "stockade", record.result,
                                                          kernel_line(record))
    assert m["sd"].startswith("[stockade@32473 ")
    params = dict((k, _unescape(v)) for k, v in PARAM.findall(m["sd"]))
    fields = ship_fields(record, HOST).fields
    assert params["event.action"] == record.operation
    assert params["event.outcome"] == fields["event.outcome"]
    if record.comm:
        assert params["process.name"] == record.comm  # escapes undone give the value back
    if record.object:
        assert params["stockade.object"] == record.object


def test_syslog_regex_rejects_what_the_abnf_forbids() -> None:
    good = rfc5424.message(RECORDS[0], HOST)
    assert RFC5424.fullmatch(good)
    for bad in (good.replace(">1 ", ">0 ", 1),               # version 0
                good.replace("T", " ", 1),                   # not a FULL-DATE "T" FULL-TIME
                good.replace("[stockade@32473 ", "[stock ade "),  # SP in an SD-ID
                good.replace(HOST, "a b")):                # SP in HOSTNAME
        assert not RFC5424.fullmatch(bad), bad
