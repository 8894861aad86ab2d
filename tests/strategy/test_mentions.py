"""The @mention parser: which handles it finds in a comment and whom they name. No database."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from strategy.mentions import (
    MentionDirectory,
    Person,
    find_mentions,
    mentioned_user_ids,
    unresolved_handles,
)

MARA = Person(1, "mara.lopez@acme.test", "Mara López")
SAM = Person(2, "sam@acme.test", "Sam Carter")
SAMIRA = Person(3, "samira@acme.test", "Samira Carter")
ZOE = Person(4, "zoe@acme.test", "Zoë O'Brien")
NONAME = Person(5, "ops-team+crm@acme.test", "")
DIRECTORY = MentionDirectory([MARA, SAM, SAMIRA, ZOE, NONAME])


def named(text: str) -> list[int]:
    return mentioned_user_ids(find_mentions(text, DIRECTORY))


def spans(text: str) -> list[str]:
    """The resolved @… spans as they appear in the text."""
    return [text[m.start : m.end] for m in find_mentions(text, DIRECTORY) if m.user_id is not None]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("@mara can you book the call?", [1]),  # a word of the full name
        ("ask @Lopez", [1]),  # any word, any case
        ("ask @lopez", [1]),  # accents do not matter
        ("@MaraLopez please", [1]),  # the whole name without its space
        ("@mara_lopez please", [1]),
        ("@zoe and @obrien", [4]),  # both name Zoë O'Brien: named once
        ("@O'Brien, thoughts?", [4]),
    ],
)
def test_names_resolve_to_members(text, expected):
    assert named(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("@mara.lopez look", [1]),  # the email's local part
        ("@mara.lopez@acme.test look", [1]),  # the whole email
        ("@SAM@ACME.TEST", [2]),
        ("@ops-team+crm will know", [5]),  # a member without a name, by the local part
        ("@samira", [3]),
    ],
)
def test_emails_and_local_parts_resolve_to_members(text, expected):
    assert named(text) == expected


def test_an_email_local_part_wins_over_a_word_of_a_name():
    # "carter" is Jo's local part and a word of two other names: the earlier rule decides.
    directory = MentionDirectory([SAM, SAMIRA, Person(6, "carter@acme.test", "Jo Smith")])

    assert mentioned_user_ids(find_mentions("@carter", directory)) == [6]


@pytest.mark.parametrize(
    "text",
    [
        "@bob are you there?",  # nobody
        "@carter",  # Sam Carter and Samira Carter: ambiguous, nobody is notified
        "@bob@elsewhere.test",
        "write to mara.lopez@acme.test",  # an email address in a sentence is not a mention
        "sam@acme.test",
        "@@mara",  # not after an @
        "email@mara",  # not inside a word
        "@ alone",
        "no mention at all",
    ],
)
def test_unknown_or_ambiguous_handles_name_nobody(text):
    assert named(text) == []


def test_unknown_handles_are_reported_as_typed():
    mentions = find_mentions("@bob, @carter and @mara.", DIRECTORY)

    assert unresolved_handles(mentions) == ["@bob", "@carter"]
    assert mentioned_user_ids(mentions) == [1]


def test_someone_named_twice_is_named_once_in_first_order():
    assert named("@sam then @mara then @Sam again and @sam@acme.test") == [2, 1]
    assert len(spans("@sam then @mara then @Sam again")) == 3


@pytest.mark.parametrize(
    "text, span",
    [
        ("thanks @mara.", "@mara"),
        ("thanks @mara!", "@mara"),
        ("(@mara)", "@mara"),
        ("@mara, @sam: go", "@mara"),
        ("is it @mara's call?", "@mara"),
        ("is it @mara’s call?", "@mara"),
        ("cc:@mara", "@mara"),
        ("-@mara-", "@mara"),
        ("@mara.lopez@acme.test.", "@mara.lopez@acme.test"),
        ("“@mara”", "@mara"),
    ],
)
def test_punctuation_around_a_handle_is_not_part_of_it(text, span):
    assert spans(text)[0] == span


def test_spans_point_into_the_text():
    text = "Hi @mara — and @nobody; @sam."
    mentions = find_mentions(text, DIRECTORY)

    assert [(text[m.start : m.end], m.user_id) for m in mentions] == [
        ("@mara", 1),
        ("@nobody", None),
        ("@sam", 2),
    ]


def test_an_empty_directory_names_nobody():
    assert mentioned_user_ids(find_mentions("@mara @sam", MentionDirectory([]))) == []


@given(st.text(max_size=200))
def test_any_text_parses_and_spans_start_with_an_at(text):
    for m in find_mentions(text, DIRECTORY):
        assert text[m.start] == "@"
        assert text[m.start + 1 : m.end] == m.handle
        assert m.user_id in (None, 1, 2, 3, 4, 5)
