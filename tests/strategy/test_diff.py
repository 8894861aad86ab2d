"""The word diff of a revision's change, as the history list shows it."""

from strategy.diff import CONTEXT, Segment, word_diff


def test_a_changed_word_is_removed_then_added():
    assert word_diff("Budget freeze in Q2", "Budget freeze in Q3") == [
        Segment("same", "Budget freeze in "),
        Segment("removed", "Q2"),
        Segment("added", "Q3"),
    ]


def test_text_written_from_nothing_is_all_added_and_cleared_text_all_removed():
    assert word_diff("", "Call the CFO") == [Segment("added", "Call the CFO")]
    assert word_diff("Call the CFO", "") == [Segment("removed", "Call the CFO")]


def test_long_unchanged_text_is_trimmed_to_the_words_around_the_change():
    start, end = "word " * 100, " tail" * 100
    segments = word_diff(start + "old" + end, start + "new" + end)

    kinds = [s.kind for s in segments]
    assert kinds == ["gap", "same", "removed", "added", "same", "gap"]
    assert len(segments[1].text) == len(segments[4].text) == CONTEXT
    assert segments[1].text.endswith("word ") and segments[4].text.startswith(" tail")


def test_reading_the_segments_gives_back_both_texts_when_nothing_is_trimmed():
    before, after = "We help them quote faster.", "We help their sales team quote in a day."
    segments = word_diff(before, after)

    assert "".join(s.text for s in segments if s.kind in ("same", "removed")) == before
    assert "".join(s.text for s in segments if s.kind in ("same", "added")) == after
