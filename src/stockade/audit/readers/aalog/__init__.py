"""AppArmor log lines read exactly as libapparmor's `parse_record()` reads them.

libapparmor (libraries/libapparmor/src: scanner.l, grammar.y, libaalogparse.c) turns one
line of audit.log, dmesg, syslog or an audit dispatcher into an `aa_log_record`; aa-logprof,
aa-notify and every tool built on libapparmor see a log through it. This module follows that
scanner (its start conditions, longest match, key table) and that grammar (which value each
key takes, where the event type comes from, what a parse error leaves behind) so that stockade
reports each field as libapparmor does:

* the event: `apparmor="DENIED"` etc.; `type=APPARMOR_DENIED` (and the other
  `APPARMOR_*` names) or `type=UNKNOWN[1503]` decide it after the fields; `type=1400`
  alone leaves it invalid until an `apparmor=` field; any other `type=` name makes an
  INVALID record whose operation is that name and whose info is the rest of the line;
* `label=` is the profile, `peer_label=`/`tcontext=` the peer profile, `exe=`/`comm=` both
  the command (the last one wins), `capname=` the name, `target=` name2, `mask=`/`denied=`
  the denied mask, `requested=` the requested mask, `saddr=`/`daddr=`/`src=`/`dest=` the
  local/foreign address and port, `method=` the D-Bus member, `error=-13` error code 13,
  a numeric `protocol=` its IPPROTO name;
* names, profiles, comm, exe and other untrusted strings may be hex (`[0-9A-F]` pairs);
* an unknown key, or a value of the wrong shape, stops the parse: the record becomes
  INVALID and keeps the fields read before it (an unknown key puts the rest of the line
  in info).
"""

from stockade.audit.readers.aalog.grammar import parse_record
from stockade.audit.readers.aalog.record import EVENTS, UNSET_ID, AaLogRecord

__all__ = ["EVENTS", "UNSET_ID", "AaLogRecord", "parse_record"]
