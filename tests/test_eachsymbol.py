"""One step over many symbols: exit codes, a single symbol's own code, Ctrl-C, pacing."""

from __future__ import annotations

import pytest

from stockcast.eachsymbol import Outcome, exit_code, for_each_symbol
from stockcast.errors import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_USAGE,
    DataError,
    SourceDown,
    UsageError,
)


def failing(*bad: str, error=DataError):
    """A step that fails the ``bad`` symbols with ``error`` and returns the others lower-cased."""

    def step(sym: str) -> str:
        if sym in bad:
            raise error(f"{sym} went wrong")
        return sym.lower()

    return step


@pytest.mark.parametrize(
    ("bad", "code"),
    [((), EXIT_OK), (("BBB",), EXIT_PARTIAL), (("AAA", "BBB", "CCC"), EXIT_ERROR)],
)
def test_exit_codes(bad: tuple[str, ...], code: int) -> None:
    batch = for_each_symbol(["AAA", "BBB", "CCC"], failing(*bad))
    assert batch.exit_code == code
    assert [o.symbol for o in batch.failures] == list(bad)
    assert len(batch.values) == 3 - len(bad)


def test_a_single_symbol_exits_with_its_own_error_code() -> None:
    batch = for_each_symbol(["AAA"], failing("AAA", error=UsageError))
    assert batch.exit_code == EXIT_USAGE
    # Several symbols that all fail exit 1 whatever their errors.
    assert for_each_symbol(["AAA", "BBB"], failing("AAA", "BBB", error=UsageError)).exit_code == 1


def test_exit_code_rules() -> None:
    assert exit_code(1, [EXIT_USAGE]) == EXIT_USAGE
    assert exit_code(2, [EXIT_USAGE]) == EXIT_PARTIAL
    assert exit_code(2, [], interrupted=True) == EXIT_INTERRUPTED


def test_outcomes_are_reported_in_order_as_they_happen() -> None:
    seen: list[Outcome[str]] = []
    batch = for_each_symbol(["AAA", "BBB", "CCC"], failing("BBB"), on_outcome=seen.append)
    assert seen == batch.outcomes
    assert [(o.symbol, o.value, str(o.error) if o.error else None) for o in seen] == [
        ("AAA", "aaa", None),
        ("BBB", None, "BBB went wrong"),
        ("CCC", "ccc", None),
    ]


def test_source_down_fails_the_rest_unasked_and_stops_pacing() -> None:
    asked: list[str] = []
    slept: list[float] = []

    def step(sym: str) -> str:
        asked.append(sym)
        return failing("BBB", error=SourceDown)(sym)

    batch = for_each_symbol(["AAA", "BBB", "CCC", "DDD"], step, pace=1.5, sleep=slept.append)
    assert asked == ["AAA", "BBB"] and slept == [1.5]
    assert [o.attempted for o in batch.outcomes] == [True, True, False, False]
    assert {str(e) for e in batch.errors} == {"BBB went wrong"}
    assert batch.exit_code == EXIT_PARTIAL


def interrupted_at(sym_to_stop: str):
    def step(sym: str) -> str:
        if sym == sym_to_stop:
            raise KeyboardInterrupt
        return sym.lower()

    return step


def test_ctrl_c_propagates_by_default() -> None:
    with pytest.raises(KeyboardInterrupt):
        for_each_symbol(["AAA", "BBB"], interrupted_at("BBB"))


def test_ctrl_c_stops_the_batch_and_keeps_what_was_done() -> None:
    batch = for_each_symbol(["AAA", "BBB", "CCC"], interrupted_at("BBB"), keep_on_interrupt=True)
    assert batch.interrupted == "BBB" and batch.exit_code == EXIT_INTERRUPTED
    assert batch.values == ["aaa"]
    assert [(o.symbol, o.interrupted) for o in batch.outcomes] == [("AAA", False), ("BBB", True)]


def test_a_value_that_reports_an_interruption_stops_the_batch_and_is_kept() -> None:
    batch = for_each_symbol(
        ["AAA", "BBB", "CCC"], lambda s: {"sym": s, "interrupted": s == "BBB"},
        stops_early=lambda r: r["interrupted"],
    )  # fmt: skip
    assert batch.interrupted == "BBB" and batch.exit_code == EXIT_INTERRUPTED
    assert [v["sym"] for v in batch.values] == ["AAA", "BBB"]
    assert batch.outcomes[-1].interrupted
