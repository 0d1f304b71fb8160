"""logprof: denials in audit logs → proposed additions to a profile, as a diff.

Like aa-logprof, non-interactively: read the denials (and complain-mode allowances) recorded
for a profile — stockade's own records (JSON lines or the audit store) and the kernel's
AppArmor and Landlock records from audit logs — turn each into the rule that would allow it,
drop what the profile already allows, and add the rest at the end of the profile's body.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stockade.audit.readers.sources import read_records
from stockade.audit.record import AuditRecord
from stockade.audit.store import AuditStore
from stockade.errors import StockadeError
from stockade.learn.edit import insert_rules, unified_diff
from stockade.learn.globs import glob_directory, glob_with_extension
from stockade.learn.proposals import Proposal, accesses_from_record, new_proposals
from stockade.policy import CompiledProfile, compile_profiles
from stockade.policy.includes import read_policy_file

#: (new profile text, records) -> the records its plan would still refuse
Checker = Callable[[str, Sequence[AuditRecord]], list[AuditRecord]]


@dataclass
class LogprofResult:
    """What logprof found and proposes."""

    profile: str
    records: int = 0
    relevant: int = 0
    proposals: list[Proposal] = field(default_factory=list)
    old_text: str = ""
    new_text: str = ""
    diff: str = ""
    #: kernel denials the proposed profile would still refuse (asked of the plan compiler)
    unenforced: list[AuditRecord] = field(default_factory=list)


def choose_profile(profiles: list[CompiledProfile], name: str | None, path: str) -> CompiledProfile:
    """The profile called `name` (by name or attachment), or the file's first."""
    if not profiles:
        raise StockadeError(f"{path}: no profile in this file")
    if name is None:
        return profiles[0]
    for p in profiles:
        if name in (p.name, p.attachment):
            return p
    raise StockadeError(f"{path}: no profile {name!r} (has: {', '.join(p.name for p in profiles)})")


def domain_owners(records: Iterable[AuditRecord], owners: dict[int, str]) -> dict[str, str]:
    """Landlock domain id -> profile: a domain's creator pid (the LANDLOCK_DOMAIN allocation
    record, 1424, or the `domain_pid` the reader merged into an access record) is the pid of
    the confined program that `stockade run` wrote in its status record (`owners`)."""
    found: dict[str, str] = {}
    for r in records:
        if r.module != "landlock":
            continue
        domain = r.fields.get("domain", "")
        pid = r.pid if r.operation == "domain_allocated" else 0
        pid = pid or int(r.fields.get("domain_pid", "0") or 0)
        if domain and pid in owners:
            found[domain] = owners[pid]
        elif domain and r.profile and r.operation == "domain_allocated":
            found[domain] = r.profile
    return found


def records_for(profile: CompiledProfile, records: Iterable[AuditRecord], *,
                any_profile: bool = False, owners: dict[int, str] | None = None,
                ) -> list[AuditRecord]:
    """Denials and complain-mode allowances that belong to `profile`.

    A record belongs when it names the profile (stockade's own records, `run --audit`'s
    kernel records, AppArmor's), or when it is a kernel Landlock record of a domain created
    by a `stockade run` of the profile (`owners`: pid -> profile, from the status records).
    `any_profile` adds the Landlock records no run can be found for, never another profile's.
    """
    records = list(records)
    names = {profile.name, profile.attachment or profile.name}
    domains = domain_owners(records, owners or {})
    out = []
    for r in records:
        if r.result not in ("DENIED", "ALLOWED"):
            continue
        if r.module == "landlock":
            owner = r.profile or domains.get(r.fields.get("domain", ""), "")
        else:
            owner = r.profile or r.subject
        if owner in names or (any_profile and r.module == "landlock" and not owner):
            out.append(r)
    return out


def gather(logs: Iterable[str], store: str | None) -> list[AuditRecord]:
    """Every record from the log files (audit text or JSON lines) and the store."""
    found: list[AuditRecord] = []
    for log in logs:
        if not os.path.exists(log):
            raise StockadeError(f"no such log: {log}")
        found.extend(read_records(log))
    if store is not None:
        if not os.path.exists(store):
            raise StockadeError(f"no audit store at {store}")
        db = AuditStore(store)
        try:
            found.extend(db.query())
        finally:
            db.close()
    return found


#: how a proposed file path can be widened (aa-logprof's Glob and Glob with Extension)
GLOBS: dict[str, Callable[[str], str]] = {"dir": glob_directory, "ext": glob_with_extension}


def logprof(profile_path: str, records: list[AuditRecord], *, include_dirs: Iterable[str] = (),
            profile_name: str | None = None, any_profile: bool = False,
            exec_mode: str = "ix", glob: str | None = None,
            enforced: Checker | None = None, owners: dict[int, str] | None = None,
            ) -> LogprofResult:
    """Propose the rules `records` call for, as a new text and a diff of the profile file.

    `glob` widens file paths as aa-logprof's (G)lob / glob with (E)xtension would. `enforced`
    (enforce.plan.records.still_denied, bound to the profile) says which kernel denials the
    new text would still refuse: a proposal that the plan would not enforce is widened to its
    directory's files once, and what stays refused is reported in `unenforced`.
    """
    text = read_policy_file(profile_path)
    profile = choose_profile(compile_profiles(Path(profile_path), list(include_dirs)), profile_name,
                             profile_path)
    relevant = records_for(profile, records, any_profile=any_profile, owners=owners)
    accesses = [a for r in relevant for a in accesses_from_record(r)]
    proposals = new_proposals(accesses, profile, text, exec_mode=exec_mode)
    if glob:
        for p in proposals:
            if p.kind == "file" and not p.path.endswith("/"):
                p.path = GLOBS[glob](p.path)
    name = profile.name if "//" not in profile.name else None
    new_text = insert_rules(text, profile_path, [p.render() for p in proposals], name)
    unenforced: list[AuditRecord] = []
    if enforced is not None:  # without proposals too: what the profile allows, Landlock may not
        unenforced = enforced(new_text, relevant)
        widened = [p for p in proposals if _widen(p, unenforced)]
        if widened:
            new_text = insert_rules(text, profile_path, [p.render() for p in proposals], name)
            unenforced = enforced(new_text, relevant)
    return LogprofResult(profile.name, len(records), len(relevant), proposals, text, new_text,
                         unified_diff(text, new_text, profile_path), unenforced)


def _widen(prop: Proposal, refused: list[AuditRecord]) -> bool:
    """Widen a file proposal that a refused record names to its directory's files."""
    if prop.kind != "file" or prop.path.endswith("/") or prop.path.endswith("/*"):
        return False
    if not any(r.object.rstrip("/") == prop.path or r.object.rstrip("/") + "/*" == prop.path
               for r in refused):
        return False
    prop.path = glob_directory(prop.path)
    return True


def write_atomically(path: str, text: str) -> None:
    """Replace `path` with `text` (same mode), never leaving a half-written profile.

    The new text is written beside the profile and renamed over it (as aa-logprof does); where
    the directory refuses that, a StockadeError says why and what to do.
    """
    target = Path(path)
    mode = target.stat().st_mode & 0o7777
    try:
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    except OSError as err:
        raise StockadeError(f"cannot apply the changes to {path}: no new file can be made in "
                            f"{target.parent} ({err.strerror}): the profile is replaced by "
                            "renaming a new file over it; copy it to a directory of yours "
                            "and apply there, or apply the printed diff (without --apply) "
                            "with patch(1)") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(text)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        raise StockadeError(f"cannot apply the changes to {path}: "
                            f"{_why_not_replaced(target, err)}; copy it to a directory of "
                            "yours and apply there, or apply the printed diff (without "
                            "--apply) with patch(1)") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _why_not_replaced(target: Path, err: OSError) -> str:
    """Why renaming over `target` failed, in words: a sticky directory (/tmp) lets only the
    file's owner replace it, whatever the file's mode."""
    try:
        parent, st = target.parent.stat(), target.stat()
    except OSError:
        return err.strerror or str(err)
    if parent.st_mode & 0o1000 and st.st_uid != os.geteuid():
        import pwd

        try:
            owner = pwd.getpwuid(st.st_uid).pw_name
        except KeyError:
            owner = f"uid {st.st_uid}"
        return (f"{target.parent} is a sticky directory and the profile is {owner}'s: only "
                f"its owner may replace it there, even where its mode lets you write it")
    return err.strerror or str(err)
