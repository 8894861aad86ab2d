"""@mentions in comments: find them in the text and resolve them to members of the organization.

Written here rather than taken from a library: the extractors we know (Twitter-style ones) find
`@word` handles but know nothing of who they name; here a handle is resolved against the org's
members by email, email local part or name, which is the whole job.

A mention is `@` at the start of the text or after anything but a letter, digit, `_` or `@` (so
`mara@acme.test` in a sentence is not one), followed by a handle: letters, digits, `_ . + - '`,
optionally with an email domain (`@mara.lopez@acme.test`). Punctuation that ends a sentence is not part
of the handle (`@mara.` → `mara`), nor is a possessive (`@mara's` → `mara`). A handle resolves, case-
and accent-insensitively, by the first of these rules that matches anyone:

1. the member's full email (`@mara.lopez@acme.test`);
2. their email's local part (`@mara.lopez`);
3. their full name written without spaces or punctuation (`@MaraLopez`, `@mara_lopez`);
4. one word of their full name (`@mara`, `@lopez`).

A rule that matches two or more members is ambiguous and the handle stays plain text, as does a handle
that matches nobody: nobody is notified by mistake."""

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from orgs.models import user_display_name

_MENTION = re.compile(
    r"(?<![\w@])@(?P<handle>\w[\w.+\-'’]*(?:@[\w\-]+(?:\.[\w\-]+)+)?)",
)
_TRAILING = ".-'’+"
_POSSESSIVE = ("'s", "’s")
MAX_HANDLE = 254


@dataclass(frozen=True)
class Person:
    """Who a handle may name: a member's user id, email and full name."""

    user_id: int
    email: str
    full_name: str = ""

    @property
    def display_name(self) -> str:
        return user_display_name(self.full_name, self.email)


@dataclass(frozen=True)
class Mention:
    """One `@handle` in a text: `start`/`end` are offsets of the `@…` span; `user_id` is None when the
    handle named nobody (or several people)."""

    start: int
    end: int
    handle: str
    user_id: int | None


def _name_key(text: str) -> str:
    """Lower case, accents and everything but letters and digits dropped: "Zoë O'Brien" → "zoeobrien"."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if ch.isalnum() and not unicodedata.combining(ch))


class MentionDirectory:
    """The members a handle may name, indexed once for every handle of a text."""

    def __init__(self, people: Iterable[Person]):
        self._rules: list[dict[str, set[int]]] = [{}, {}, {}, {}]
        for person in people:
            email = person.email.casefold()
            keys = [email, email.split("@", 1)[0], _name_key(person.full_name)]
            for rule, key in zip(self._rules[:3], keys, strict=True):
                if key:
                    rule.setdefault(key, set()).add(person.user_id)
            for word in person.full_name.split():
                key = _name_key(word)
                if key:
                    self._rules[3].setdefault(key, set()).add(person.user_id)

    def resolve(self, handle: str) -> int | None:
        """The one member the handle names, or None (nobody, or ambiguous)."""
        handle = handle.casefold()
        keys = [handle, handle, _name_key(handle), _name_key(handle)]
        for rule, key in zip(self._rules, keys, strict=True):
            matches = rule.get(key) if key else None
            if matches:
                return next(iter(matches)) if len(matches) == 1 else None
        return None


def _candidates(handle: str) -> list[str]:
    """The handle without sentence punctuation, then without a possessive."""
    handle = handle.rstrip(_TRAILING)
    out = [handle]
    for suffix in _POSSESSIVE:
        if handle.casefold().endswith(suffix) and len(handle) > len(suffix):
            out.append(handle[: -len(suffix)].rstrip(_TRAILING))
    return [h for h in out if h]


def find_mentions(text: str, directory: MentionDirectory) -> list[Mention]:
    """Every @handle of `text` in order, each resolved to a member or not. A handle that names nobody
    keeps its whole span (it is shown as typed)."""
    mentions: list[Mention] = []
    for match in _MENTION.finditer(text):
        raw = match.group("handle")
        if len(raw) > MAX_HANDLE:
            continue
        start = match.start()
        candidates = _candidates(raw)
        if not candidates:
            continue
        for handle in candidates:
            user_id = directory.resolve(handle)
            if user_id is not None:
                mentions.append(Mention(start, start + 1 + len(handle), handle, user_id))
                break
        else:
            handle = candidates[0]
            mentions.append(Mention(start, start + 1 + len(handle), handle, None))
    return mentions


def mentioned_user_ids(mentions: Iterable[Mention]) -> list[int]:
    """The members named, each once, in the order they were first named."""
    return list(dict.fromkeys(m.user_id for m in mentions if m.user_id is not None))


def unresolved_handles(mentions: Iterable[Mention]) -> list[str]:
    """The handles that named nobody (or several people), each once."""
    return list(dict.fromkeys(f"@{m.handle}" for m in mentions if m.user_id is None))
