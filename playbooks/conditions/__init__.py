"""The trigger-condition language of plays.

A condition is JSON, never code: `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}` or a leaf
`{"field": F, "op": O, "value": V}` with F from `FIELDS` and O from `OPERATORS[FIELDS[F].type]`.

One language, four readings of the same tree (import them from here):
- `parse` (parsing.py) validates — every problem named by its path, e.g.
  `all[2].op: unknown operator "gtt"` — and normalizes; `Condition.data` is what a play stores.
- `evaluate` / `explain` (evaluation.py) answer for one deal in Python; `explain` is the "why" of an
  attached play.
- `to_q` (sql.py) compiles to a `Q` over `Deal`, so re-evaluating every open deal is one query.
- `describe` (evaluation.py) renders it for people; the vocabulary and its words are in language.py.

`evaluate` and `to_q` agree on every deal (a property test checks it on SQLite and PostgreSQL). The rules
that make that true:
- Logic is two-valued. Each leaf compiles to SQL that is never NULL (nullable columns get an explicit
  `IS NOT NULL`, list fields are `EXISTS`), so `not`, `ne`, `not_in` and `not_contains` are exact
  complements of their positive twins — `~Q(budget__gt=5)` alone would silently drop deals with no budget.
- A missing value (a deal with no budget) satisfies no comparison: `budget gt 5`, `budget eq 5` and
  `budget lt 5` are all false for it, and therefore `budget ne 5` is true (`ne` is `not eq`). Only
  `is_empty` / `is_not_empty` look at emptiness: `is_empty` holds for None and "".
- Text compares case-insensitively (`iexact` / `icontains`; Python `str.lower`). SQLite folds the case of
  ASCII letters only, so on SQLite two spellings that differ in the case of a non-ASCII letter ("É"/"é")
  are different; PostgreSQL folds them as its collation says.
- Competitors and objections are sets of names: `contains X` means one of them is X (case-insensitive),
  not a substring. Stakeholder roles are role values (`champion`, ...).
- Days in stage are whole days, floored: a deal that entered its stage 2.9 days before `now` has been in
  it 2 days.
- Stakeholder gaps are the codes of deals.network (no_economic_buyer, no_champion, single_threaded,
  opponent_high_influence, procurement_in_decision), worked out by its rules: `deal_gap_codes` in
  Python, `deal_gap_condition` in SQL. `contains X` means the deal has gap X; `is_empty`, that it has
  none. `single_threaded` reads the activities of the 30 days before `now`, inclusive.
- Days in stage and stakeholder gaps change with time alone (`TIME_BASED_FIELDS`): plays reading them
  are re-evaluated nightly as well as after every edit.

Nothing here builds SQL from strings: values only reach the database as ORM lookup parameters.
"""

from __future__ import annotations

from playbooks.conditions.evaluation import describe, evaluate, explain
from playbooks.conditions.language import (
    ALL_OPERATORS,
    CHOICE,
    DAYS,
    FIELDS,
    LIST,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_JSON_CHARS,
    MAX_LEAVES,
    MAX_NUMBER,
    MAX_TEXT,
    MAX_VALUES,
    NUMBER,
    OPERATORS,
    OWNER,
    PHASE,
    STAGE,
    STAKEHOLDER_GAPS,
    TEXT,
    TIME_BASED_FIELDS,
    Condition,
    Field,
    InvalidCondition,
)
from playbooks.conditions.parsing import parse
from playbooks.conditions.sql import to_q

__all__ = [
    "ALL_OPERATORS",
    "CHOICE",
    "DAYS",
    "FIELDS",
    "LIST",
    "NUMBER",
    "OWNER",
    "PHASE",
    "STAGE",
    "STAKEHOLDER_GAPS",
    "TEXT",
    "TIME_BASED_FIELDS",
    "MAX_DAYS",
    "MAX_DEPTH",
    "MAX_JSON_CHARS",
    "MAX_LEAVES",
    "MAX_NUMBER",
    "MAX_TEXT",
    "MAX_VALUES",
    "OPERATORS",
    "Condition",
    "Field",
    "InvalidCondition",
    "describe",
    "evaluate",
    "explain",
    "parse",
    "to_q",
]
