"""`abac`: attribute-based rules written in CEL, the Common Expression Language (cel-python).

A policy is a YAML document with a list of rules; each has an `id`, an `effect` (`deny` or
`allow`), the `hooks` it applies to (all hooks when omitted), a CEL `condition`, and
optionally `audit: true` (record the match even when it allows) and `errno` (default EACCES).
Rules are tried in file order, and only those whose hook filter names the request's hook:
the first whose condition is true decides (deny, or allow and stop). A deny rule whose
condition fails to evaluate denies (fail closed); an allow rule that fails does not match.
`default: deny` denies what no rule matched (default: no opinion).

    rules:
      - id: office-hours-writes
        effect: deny
        hooks: [file_open, inode_create, inode_unlink]
        condition: request.write && (env.hour < 8 || env.hour >= 18)

Variables: `subject` (pid uid euid gid egid groups comm exe labels profile caps no_new_privs),
`object` (kind path exists owner group mode type labels address port family pid comm),
`request` (hook access read write exec append signal cap what target) and `env` (time hour
minute weekday date hostname) from an injectable clock. Conditions are compiled once, when the
policy loads (a syntax error or an unknown attribute is reported as file:line). The AVC key
(lsm/types.py) leaves out `env`, `subject.pid`, `subject.comm`, `subject.exe`, `object.pid` and
`object.comm`: on a hook where some rule reads one of them (or a variable whole), no verdict of
this module is cached, its "no opinion" included; on the other hooks verdicts are cached.

Cost: cel-python is an interpreter; even with its transpiling runner one simple condition
costs ~80-130 us, ten times a Smack or Biba check. So rules are indexed by hook (a request
evaluates only the rules naming its hook), only the attributes the rules read are converted
to CEL values, and each rule's result is memoised (bounded, `memo_size`) on the values of the
attributes it reads, since a CEL condition is a pure function of them: a repeated decision
costs ~10 us. A rule that reads `env.time` or uses a variable whole is not memoised.
cel-python's transpiled programs share module globals, so evaluations are serialised.
"""

from __future__ import annotations

import errno
import logging
import socket
import stat
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import celpy
import yaml
from celpy import celtypes

from stockade.errors import StockadeError
from stockade.lsm.caps import cap_name, mask_names
from stockade.lsm.hooks import HOOKS
from stockade.lsm.module import HookFn, SecurityModule, Verdict
from stockade.lsm.types import (
    MAY_APPEND,
    MAY_EXEC,
    MAY_READ,
    MAY_WRITE,
    Object,
    Request,
    Subject,
    access_names,
)
from stockade.modules.labels import object_labels

# cel-python logs every evaluation error at ERROR level; they become verdicts here.
logging.getLogger("celpy").setLevel(logging.CRITICAL)

VARIABLES = ("subject", "object", "request", "env")
EFFECTS = ("deny", "allow")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TYPES = ((stat.S_IFDIR, "dir"), (stat.S_IFLNK, "symlink"), (stat.S_IFCHR, "char"),
          (stat.S_IFBLK, "block"), (stat.S_IFIFO, "fifo"), (stat.S_IFSOCK, "socket"),
          (stat.S_IFREG, "file"))
_FAMILIES: dict[int, str] = {socket.AF_INET: "inet", socket.AF_INET6: "inet6", socket.AF_UNIX: "unix"}
Clock = Callable[[], datetime]
#: attributes that `Request.key` does not carry (`Subject.key` leaves out pid, comm and exe;
#: `object.pid` and `object.comm` are a target task's); all of `env` is off the key too
OFF_KEY: dict[str, frozenset[str]] = {
    "subject": frozenset({"pid", "comm", "exe"}), "object": frozenset({"pid", "comm"})}


def _now() -> datetime:
    return datetime.now().astimezone()


def to_cel(value: Any) -> Any:
    """A Python value as a CEL value."""
    kind = type(value)
    if kind is str:
        return celtypes.StringType(value)
    if kind is bool:
        return celtypes.BoolType(value)
    if kind is int:
        return celtypes.IntType(value)
    if kind is dict:
        return celtypes.MapType({celtypes.StringType(k): to_cel(v) for k, v in value.items()})
    if kind in (list, tuple, set, frozenset):
        return celtypes.ListType([to_cel(v) for v in value])
    if isinstance(value, datetime):
        return celtypes.TimestampType(value)
    if kind is float:
        return celtypes.DoubleType(value)
    raise TypeError(f"no CEL type for {kind.__name__}")


def _error_text(err: BaseException) -> str:
    """The innermost message of a cel-python error."""
    args = err.args
    while (len(args) >= 3 and isinstance(args[1], type) and isinstance(args[2], tuple)
           and len(args[2]) >= 2 and isinstance(args[2][0], str)):
        args = args[2]
    return str(args[0]).strip() if args else type(err).__name__


def _file_type(mode: int) -> str:
    kind = stat.S_IFMT(mode)
    for bit, name in _TYPES:
        if kind == bit:
            return name
    return "none"


def subject_attrs(req: Request) -> dict[str, Any]:
    """The `subject` variable."""
    s = req.subject
    labels = dict(s.contexts)
    return {"pid": s.pid, "uid": s.uid, "euid": s.euid, "gid": s.gid, "egid": s.egid,
            "groups": sorted(s.groups), "comm": s.comm, "exe": s.exe, "labels": labels,
            "profile": labels.get("apparmor", ""), "caps": mask_names(s.cap_effective),
            "no_new_privs": s.no_new_privs}


def object_attrs(obj: Object | None) -> dict[str, Any]:
    """The `object` variable (empty values when the request has no object)."""
    obj = obj or Object()
    attrs: dict[str, Any] = {
        "kind": obj.kind, "path": obj.path, "exists": obj.exists, "owner": obj.uid,
        "group": obj.gid, "mode": obj.mode & 0o7777, "type": _file_type(obj.mode),
        "labels": object_labels(obj), "address": obj.address, "port": obj.port,
        "family": _FAMILIES.get(obj.family, str(obj.family) if obj.family else ""),
        "pid": 0, "comm": "",
    }
    if obj.task is not None:
        attrs.update(pid=obj.task.pid, comm=obj.task.comm, owner=obj.task.uid,
                     group=obj.task.gid, labels=dict(obj.task.contexts))
    return attrs


def request_attrs(req: Request) -> dict[str, Any]:
    """The `request` variable: the hook and the access it asks for."""
    return {"hook": req.hook, "access": access_names(req.access),
            "read": bool(req.access & MAY_READ), "write": bool(req.access & MAY_WRITE),
            "exec": bool(req.access & MAY_EXEC), "append": bool(req.access & MAY_APPEND),
            "signal": req.signal, "cap": cap_name(req.cap) if req.cap >= 0 else "",
            "what": req.what, "target": req.target.path if req.target is not None else ""}


def env_attrs(now: datetime, hostname: str) -> dict[str, Any]:
    """The `env` variable, from the clock's reading."""
    return {"time": now, "hour": now.hour, "minute": now.minute,
            "weekday": WEEKDAYS[now.weekday()], "date": now.date().isoformat(),
            "hostname": hostname}


_SAMPLE_REQUEST = Request("file_open", Subject())


@dataclass(frozen=True)
class Rule:
    """One compiled rule."""

    id: str
    effect: str
    hooks: frozenset[str]
    condition: str
    line: int
    uses: frozenset[str]  # the top-level variables it reads
    attrs: tuple[tuple[str, frozenset[str] | None], ...]  # per variable; None: all of them
    program: Any = field(repr=False, compare=False)
    audit: bool = False
    errno: int = errno.EACCES

    @property
    def reads_off_key(self) -> bool:
        """True when the verdict depends on something the AVC key leaves out (OFF_KEY)."""
        for var, keys in self.attrs:
            off = OFF_KEY.get(var)
            if off is not None and (keys is None or keys & off):
                return True
        return "env" in self.uses


def _idents(tree: Any) -> set[str]:
    found: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data == "ident" and node.children:
            found.add(str(node.children[0]))
    return found


def _member_root(node: Any) -> str | None:
    """`subject` for the node of `subject.uid`; None when the base is not a plain name."""
    inner = node.children[0]
    if getattr(inner, "data", None) != "member" or not inner.children:
        return None
    primary = inner.children[0]
    if getattr(primary, "data", None) != "primary" or not primary.children:
        return None
    ident = primary.children[0]
    if getattr(ident, "data", None) != "ident" or not ident.children:
        return None
    return str(ident.children[0])


def _references(tree: Any) -> tuple[dict[str, set[str]], set[str]]:
    """The attributes read per variable (`subject.uid` → subject: {uid}), and the variables
    used other than through a plain attribute (these need every attribute)."""
    attrs: dict[str, set[str]] = {}
    direct: dict[str, int] = {}
    counts: dict[str, int] = {}
    for node in tree.iter_subtrees():
        if node.data == "ident" and node.children:
            name = str(node.children[0])
            counts[name] = counts.get(name, 0) + 1
        elif node.data == "member_dot" and len(node.children) >= 2:
            root = _member_root(node)
            if root is not None:
                attrs.setdefault(root, set()).add(str(node.children[1]))
                direct[root] = direct.get(root, 0) + 1
    return attrs, {name for name, n in counts.items() if n > direct.get(name, 0)}


def _errno(value: Any, where: str) -> int:
    if isinstance(value, int):
        return value
    number = getattr(errno, str(value).upper(), None)
    if not isinstance(number, int):
        raise StockadeError(f"{where}: unknown errno {value!r}")
    return number


def _sample_activation() -> dict[str, Any]:
    return {"subject": to_cel(subject_attrs(_SAMPLE_REQUEST)),
            "object": to_cel(object_attrs(None)),
            "request": to_cel(request_attrs(_SAMPLE_REQUEST)),
            "env": to_cel(env_attrs(datetime(2000, 1, 3, 12, 0).astimezone(), "host"))}


def compile_rule(env: celpy.Environment, data: dict[str, Any], source: str, line: int,
                 cond_line: int, sample: dict[str, Any]) -> Rule:
    """Compile one rule mapping; errors name source:line."""
    where = f"{source}:{line}"
    unknown = set(data) - {"id", "effect", "hooks", "condition", "audit", "errno"}
    if unknown:
        raise StockadeError(f"{where}: unknown rule key(s): {', '.join(sorted(unknown))}")
    rule_id = str(data.get("id", "")).strip()
    if not rule_id:
        raise StockadeError(f"{where}: rule without an id")
    effect = str(data.get("effect", "")).strip()
    if effect not in EFFECTS:
        raise StockadeError(f"{where}: rule {rule_id}: effect must be deny or allow, not {effect!r}")
    hooks_value = data.get("hooks")
    if hooks_value is None:
        hooks = frozenset(HOOKS)
    else:
        names = [hooks_value] if isinstance(hooks_value, str) else list(hooks_value)
        bad = [h for h in names if h not in HOOKS]
        if bad:
            raise StockadeError(f"{where}: rule {rule_id}: unknown hook(s) {', '.join(map(str, bad))}")
        hooks = frozenset(names)
    condition = data.get("condition")
    if isinstance(condition, bool):  # YAML reads a bare true/false as a boolean
        condition = "true" if condition else "false"
    if not isinstance(condition, str) or not condition.strip():
        raise StockadeError(f"{where}: rule {rule_id}: a CEL condition is required")
    try:
        tree = env.compile(condition)
    except celpy.CELParseError as err:
        at = f"{source}:{cond_line + (err.line or 1) - 1}"
        raise StockadeError(f"{at}: rule {rule_id}: CEL syntax error at column "
                            f"{err.column}: {condition.splitlines()[(err.line or 1) - 1].strip()!r}"
                            ) from None
    uses = frozenset(_idents(tree) & set(VARIABLES))
    schema = {name: {str(k) for k in value} for name, value in sample.items()}
    referenced, whole = _references(tree)
    unknown_attrs = [f"{var}.{attr}" for var, names in referenced.items() if var in schema
                     for attr in sorted(names - schema[var])]
    if unknown_attrs:
        raise StockadeError(f"{source}:{cond_line}: rule {rule_id}: unknown attribute(s) "
                            f"{', '.join(unknown_attrs)}")
    program = env.program(tree)
    try:
        result = program.evaluate(sample)
    except Exception:  # e.g. a label lookup on the sample's empty maps: decided at run time
        result = celtypes.BoolType(False)
    if not isinstance(result, celtypes.BoolType):
        raise StockadeError(f"{source}:{cond_line}: rule {rule_id}: the condition must be a "
                            f"boolean, not {type(result).__name__}")
    attrs = tuple((var, None if var in whole else frozenset(referenced.get(var, ())))
                  for var in sorted(uses))
    return Rule(rule_id, effect, hooks, condition, line, uses, attrs, program,
                bool(data.get("audit", False)), _errno(data.get("errno", "EACCES"), where))


def parse_policy(text: str, source: str = "<policy>") -> tuple[list[Rule], str]:
    """The rules and the default (`allow` or `deny`) of a YAML policy."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        at = f"{source}:{mark.line + 1}" if mark is not None else source
        raise StockadeError(f"{at}: YAML error: {getattr(err, 'problem', err)}") from None
    if root is None:
        return [], "allow"
    data = yaml.safe_load(text)
    if not isinstance(data, dict) or not isinstance(data.get("rules", []), list):
        raise StockadeError(f"{source}: expected a mapping with a 'rules' list")
    default = str(data.get("default", "allow"))
    if default not in EFFECTS:
        raise StockadeError(f"{source}: default must be allow or deny, not {default!r}")
    rule_nodes: list[Any] = []
    for key, value in root.value:
        if key.value == "rules":
            rule_nodes = list(value.value)
    env = celpy.Environment(runner_class=celpy.CompiledRunner)
    sample = _sample_activation()
    rules: list[Rule] = []
    seen: set[str] = set()
    for node, item in zip(rule_nodes, data.get("rules", []), strict=True):
        line = node.start_mark.line + 1
        if not isinstance(item, dict):
            raise StockadeError(f"{source}:{line}: a rule must be a mapping")
        cond_line = line
        for key, value in node.value:
            if key.value == "condition":
                block = getattr(value, "style", None) in ("|", ">")
                cond_line = value.start_mark.line + 1 + (1 if block else 0)
        rule = compile_rule(env, item, source, line, cond_line, sample)
        if rule.id in seen:
            raise StockadeError(f"{source}:{line}: duplicate rule id {rule.id}")
        seen.add(rule.id)
        rules.append(rule)
    return rules, default


def _freeze(value: Any) -> Any:
    """A hashable form of an attribute value."""
    if isinstance(value, list | tuple | set | frozenset):
        return tuple(_freeze(v) for v in value)
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    return value


def _memo_key_of(rule: Rule) -> tuple[tuple[str, str], ...] | None:
    """The attributes a rule's result depends on, or None when it cannot be memoised (a
    variable used whole, or the timestamp, which never repeats)."""
    names: list[tuple[str, str]] = []
    for var, keys in rule.attrs:
        if keys is None or (var == "env" and "time" in keys):
            return None
        names += [(var, key) for key in sorted(keys)]
    return tuple(names)


@dataclass
class Abac(SecurityModule):
    """CEL rules over subject, object, request and environment attributes."""

    name = "abac"
    policy_file: str | None = None
    policy_text: str = ""
    clock: Clock | str | None = None  # a callable, or an ISO time the clock stands still at
    hostname: str | None = None
    rules: list[Rule] = field(default_factory=list, init=False)
    default: str = field(default="allow", init=False)
    memo_size: int = 1024
    evaluations: int = field(default=0, init=False)
    memo_hits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.policy_file:
            try:
                with open(self.policy_file, encoding="utf-8") as f:
                    self.load(f.read(), self.policy_file)
            except OSError as err:
                raise StockadeError(f"{self.policy_file}: {err.strerror}") from None
        else:  # no policy is an empty one (every hook table built), not a half-made module
            self.load(self.policy_text)
        if isinstance(self.clock, str):  # `--module-option abac.clock=2026-01-05T22:00+00:00`
            try:
                fixed = datetime.fromisoformat(self.clock)
            except ValueError:
                raise StockadeError(f"abac: clock must be an ISO 8601 time, not {self.clock!r}") from None
            fixed = fixed if fixed.tzinfo else fixed.astimezone()
            self._clock: Clock = lambda: fixed
        else:
            self._clock = self.clock or _now
        self._eval_lock = threading.Lock()
        self._hostname = self.hostname if self.hostname is not None else socket.gethostname()

    def load(self, text: str, source: str = "<policy>") -> None:
        """Compile a policy and replace the current one."""
        self.rules, self.default = parse_policy(text, source)
        self._by_hook: dict[str, tuple[Rule, ...]] = {
            hook: tuple(r for r in self.rules if hook in r.hooks) for hook in HOOKS}
        self._uncached_hooks = {h for h, rs in self._by_hook.items()
                                if any(r.reads_off_key for r in rs)}
        self._needs: dict[str, dict[str, set[str] | None]] = {}
        for hook, rules in self._by_hook.items():
            needs: dict[str, set[str] | None] = {}
            for rule in rules:
                for var, keys in rule.attrs:
                    if keys is None or needs.get(var, set()) is None:
                        needs[var] = None
                    else:
                        needs[var] = needs.get(var, set()) | keys  # type: ignore[operator]
            self._needs[hook] = needs
        self._memo: dict[str, dict[tuple, tuple[bool, str]]] = {r.id: {} for r in self.rules}
        self._memo_keys = {r.id: _memo_key_of(r) for r in self.rules}
        self.reload()

    def hooks(self) -> dict[str, HookFn]:
        """Only the hooks some rule names (all of them with `default: deny`)."""
        if self.default == "deny":
            return {hook: self.decide for hook in HOOKS}
        return {hook: self.decide for hook, rules in self._by_hook.items() if rules}

    def _attrs(self, req: Request, needs: dict[str, set[str] | None]) -> dict[str, dict[str, Any]]:
        """The variables (and of those, the attributes) the rules read, as Python values."""
        build: dict[str, Callable[[], dict[str, Any]]] = {
            "subject": lambda: subject_attrs(req),
            "object": lambda: object_attrs(req.obj),
            "request": lambda: request_attrs(req),
            "env": lambda: env_attrs(self._clock(), self._hostname),
        }
        found: dict[str, dict[str, Any]] = {}
        for name, keys in needs.items():
            values = build[name]()
            found[name] = values if keys is None else {k: v for k, v in values.items() if k in keys}
        return found

    def _activation(self, req: Request, needs: dict[str, set[str] | None]) -> dict[str, Any]:
        """CEL values for what the rules read."""
        return {name: to_cel(values) for name, values in self._attrs(req, needs).items()}

    def _evaluate(self, rule: Rule, attrs: dict[str, dict[str, Any]],
                  activation: dict[str, Any]) -> tuple[bool, str]:
        """(matched, failure) for one rule, memoised on the attribute values it reads: a CEL
        condition is a pure function of them."""
        names = self._memo_keys[rule.id]
        key = None
        if names is not None:
            key = tuple(_freeze(attrs[var].get(attr)) for var, attr in names)
            found = self._memo[rule.id].get(key)
            if found is not None:
                self.memo_hits += 1
                return found
        self.evaluations += 1
        if not activation:  # converted once per request, on the first evaluation
            activation.update({name: to_cel(values) for name, values in attrs.items()})
        try:
            # cel-python's transpiled programs share module globals: one evaluation at a time
            with self._eval_lock:
                outcome = (bool(rule.program.evaluate(activation)), "")
        except Exception as err:  # a runtime error in a condition
            outcome = (rule.effect == "deny", _error_text(err))
        if key is not None:
            memo = self._memo[rule.id]
            if len(memo) >= self.memo_size:
                del memo[next(iter(memo))]
            memo[key] = outcome
        return outcome

    def decide(self, req: Request) -> Verdict | None:
        """The first matching rule's verdict for `req`."""
        rules = self._by_hook.get(req.hook, ())
        cacheable = req.hook not in self._uncached_hooks
        if not rules:
            return self._default(req, cacheable)
        attrs = self._attrs(req, self._needs[req.hook])
        activation: dict[str, Any] = {}
        for rule in rules:
            matched, failure = self._evaluate(rule, attrs, activation)
            if not matched:
                continue
            fields = (("rule", rule.id), ("effect", rule.effect))
            if rule.effect == "deny":
                why = f"rule {rule.id}: {rule.condition}" if not failure else \
                    f"rule {rule.id}: condition failed ({failure}); denied (fail closed)"
                return self.deny(rule.errno, why, rule.id, cacheable=cacheable, fields=fields)
            return Verdict(self.name, 0, f"rule {rule.id}", rule.id, audit=rule.audit,
                           cacheable=cacheable, fields=fields)
        return self._default(req, cacheable)

    def _default(self, req: Request, cacheable: bool) -> Verdict | None:
        if self.default == "deny":
            return self.deny(errno.EACCES, "no rule allows this (default: deny)",
                             cacheable=cacheable, fields=(("rule", "default"), ("effect", "deny")))
        return None if cacheable else self.no_opinion_uncached(req.hook)
