"""What a strategy revision changed in a field's text, word by word, for the history list.

The standard library's difflib does the matching; this only cuts the text into words and trims long
unchanged stretches to the words around each change, so a one-word edit in a long paragraph reads as
one line."""

import re
from difflib import SequenceMatcher
from typing import Literal, NamedTuple

_TOKENS = re.compile(r"\s+|\w+|[^\w\s]")
# Unchanged text longer than this is trimmed to CONTEXT characters on each side of the changes.
KEEP_WHOLE = 160
CONTEXT = 60


class Segment(NamedTuple):
    kind: Literal["same", "removed", "added", "gap"]
    text: str


def _trim(text: str, *, keep_start: bool, keep_end: bool) -> list[Segment]:
    if len(text) <= KEEP_WHOLE:
        return [Segment("same", text)]
    out: list[Segment] = []
    if keep_start:
        out.append(Segment("same", text[:CONTEXT]))
    out.append(Segment("gap", "…"))
    if keep_end:
        out.append(Segment("same", text[-CONTEXT:]))
    return out


def word_diff(before: str, after: str) -> list[Segment]:
    """`before` → `after` as runs of unchanged, removed and added text, in reading order; unchanged
    runs far from any change are shortened to a "gap"."""
    a, b = _TOKENS.findall(before), _TOKENS.findall(after)
    opcodes = SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    segments: list[Segment] = []
    for index, (tag, i1, i2, j1, j2) in enumerate(opcodes):
        if tag == "equal":
            segments += _trim("".join(a[i1:i2]), keep_start=index > 0, keep_end=index < len(opcodes) - 1)
            continue
        if i2 > i1:
            segments.append(Segment("removed", "".join(a[i1:i2])))
        if j2 > j1:
            segments.append(Segment("added", "".join(b[j1:j2])))
    return segments
