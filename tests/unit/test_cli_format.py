"""The command line's words and tables."""

from __future__ import annotations

from chalicelib.cli import WIDEST, duration, table
from chalicelib.domain.words import plural


def test_plural():
    assert [plural(n, "dead letter") for n in (0, 1, 2)] == ["0 dead letters", "1 dead letter", "2 dead letters"]
    assert plural(1, "box", "boxes") == "1 box" and plural(3, "box", "boxes") == "3 boxes"


def test_table_aligns_and_cuts_every_column_but_the_last():
    long = "x" * (WIDEST + 10)
    lines = table(["A", "Reason"], [[long, long], ["b", None]])
    assert lines[0] == "A" + " " * (WIDEST + 1) + "Reason"
    assert lines[2] == "x" * (WIDEST - 1) + "…  " + long
    assert lines[3] == "b"  # trailing blanks stripped, None shown empty
    assert table(["A"], [["two\nlines"]])[2] == "two lines"


def test_durations():
    assert [duration(s) for s in (5, 61, 7300, 200000)] == ["5 s", "1 min", "2 h", "2 d"]


def test_the_replay_summary_counts_in_words():
    from chalicelib.dead_letters import ReplayReport

    assert ReplayReport(["a"], []).summary() == "Replayed 1 dead letter."
    assert ReplayReport([], ["x"], ["c"]).summary() == (
        "Replayed 0 dead letters. 1 is a command, never replayed (discard them): c. 1 not found: x."
    )
