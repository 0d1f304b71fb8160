"""Differential harness: stockade accepts and rejects generated profiles as apparmor_parser does.

The generator (profilegen.py) builds ~1500 valid and broken profiles covering every rule kind
in AppArmor 3.0 syntax; the oracle is the installed apparmor_parser (-Q -K, includes from the
case's temp dir), whose answers are cached in data/oracle-apparmor-3.0.json by case hash
(missing answers are asked of the parser). Refresh with `python -m tests.policy.differential`.
"""

from __future__ import annotations

from tests.policy.differential import PARSER, load_cache, run, table
from tests.policy.profilegen import cases

#: Cases where AppArmor 3.0.8 and upstream's current grammar (the target) decide differently;
#: each names the upstream source that stockade follows instead.
UPSTREAM_CHANGED: dict[str, str] = {
    "mount-3": "mount.cc mnt_rule(): conflicting_flags() rejects options=(rw, ro)",
    "mount-32": "mount.cc mnt_rule(): conflicting_flags() rejects options=(mand, nomand)",
    "mount-9": "mount.cc gen_flag_rules(): propagation flag with source and mount point "
               "encodes nothing (\"source and mount point cannot be used at the same time\")",
}


def test_agreement_with_apparmor_parser() -> None:
    all_cases = cases()
    cache = load_cache()
    results = run(all_cases, cache)
    if PARSER is None:
        assert len(results) == len(all_cases), "oracle cache incomplete and no apparmor_parser"
    wrong = [(c.name, theirs, msg) for c, theirs, ours, msg in results
             if theirs != ours and c.name not in UPSTREAM_CHANGED]
    assert not wrong, table(results) + "\n" + "\n".join(map(str, wrong[:40]))
