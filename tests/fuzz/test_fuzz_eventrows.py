"""Fuzzing the store's rows of audit text against the reader: mutations of the audit lines the
tests quote and random token soup give rows with the columns of the reader's records, that read
back as the very records the reader makes (eventrows' fast path included), and never raise."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stockade.audit.store import AuditStore
from tests.audit.test_eventrows import AVC, PROCTITLE, SYSCALL, check_rows

from .corpus import LOG_TOKENS, examples, log_seeds, mutated

FUZZ = settings(deadline=timedelta(seconds=1), suppress_health_check=list(HealthCheck),
                database=None, max_examples=examples(300))
SEEDS = (*log_seeds(), f"{AVC}\n{SYSCALL}\n{PROCTITLE}")


@FUZZ
@given(lines=st.lists(mutated(SEEDS, LOG_TOKENS), min_size=1, max_size=6),
       pending=st.sampled_from([64, 2, 1]))
def test_mutated_lines_read_back_as_the_reader(lines: list[str], pending: int,
                                               store: AuditStore) -> None:
    check_rows([line for text in lines for line in text.split("\n")], store,
               max_pending=pending)


@FUZZ
@given(lines=st.lists(st.lists(st.sampled_from(LOG_TOKENS) | st.text(max_size=4), max_size=30)
                      .map("".join), max_size=8))
def test_token_soup_reads_back_as_the_reader(lines: list[str], store: AuditStore) -> None:
    check_rows(lines, store)
