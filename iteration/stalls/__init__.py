"""Stall rules and flags: which open deals are stuck, how badly, and why.

Three rules, set per stage (`StallRule`; without a row the defaults below apply):

- **age**: the deal has been open more than N days since it was created (off until set);
- **stalled**: the deal has been in its stage more than N days; by default N is the stage's threshold
  × 1 (advice), × 1.5 (warning) and × 2 (red flag). The threshold is `expected_days`, else the p75 of
  days in the stage over deals that advanced from it when at least 10 did (DESIGN.md, "Metrics"), else
  there is none and the rule is off for the stage unless its days are set;
- **no activity**: no activity and no stage change (`Deal.last_activity_at`) for more than N days; by
  default N is the org's idle limit (advice), 1.5× it (warning) and 30/14 of it (red flag), rounded to
  whole days: 14 / 21 / 30 with the default idle limit of 14 days.

Days are whole days (rounded down) since the rule's moment, and a level applies when they are MORE than
its days, so with a 21-day threshold a deal flags on its 22nd whole day in the stage. A deal carries one
flag per rule at the worst level it reached (`StallFlag`, unique per deal and rule).

The hourly job (`stall_flags_refresh`) rewrites an organization's flags set-based: one read of the open
deals and one of the flags, then only the flags that appeared, changed or went away are written, in
batches; `since` survives while a flag persists. The deal services clear flags at once through
`stall_flags_clear` when a deal moves, closes or gets activity, so the board never waits for the job.
"""

from iteration.stalls.detect import (
    StallRefresh,
    detect_stalls,
    flag_dict,
    stall_flags_clear,
    stall_flags_refresh,
)
from iteration.stalls.flags import (
    deal_stall_flags,
    flags_after,
    flags_by_deal,
    flags_cursor,
    flags_page,
    stall_flag_snooze,
    visible_flags,
    with_level_rank,
)
from iteration.stalls.rules import (
    CLEARED_BY_ACTIVITY,
    CLEARED_BY_CLOSE,
    CLEARED_BY_MOVE,
    KINDS,
    LEVEL_FIELDS,
    LEVELS,
    MAX_RULE_DAYS,
    MAX_SNOOZE_DAYS,
    MIN_ADVANCED_FOR_THRESHOLD,
    STALLED_MULTIPLIERS,
    EffectiveRule,
    StageThreshold,
    level_rank,
    no_activity_defaults,
    percentile_linear,
    stall_rule_set,
    stall_rules_for_org,
    stall_rules_for_process,
    stall_rules_for_stage,
    stall_thresholds,
)

__all__ = [
    "CLEARED_BY_ACTIVITY",
    "CLEARED_BY_CLOSE",
    "CLEARED_BY_MOVE",
    "KINDS",
    "LEVELS",
    "LEVEL_FIELDS",
    "MAX_RULE_DAYS",
    "MAX_SNOOZE_DAYS",
    "MIN_ADVANCED_FOR_THRESHOLD",
    "STALLED_MULTIPLIERS",
    "EffectiveRule",
    "StageThreshold",
    "StallRefresh",
    "deal_stall_flags",
    "detect_stalls",
    "flag_dict",
    "flags_after",
    "flags_by_deal",
    "flags_cursor",
    "flags_page",
    "level_rank",
    "no_activity_defaults",
    "percentile_linear",
    "stall_flag_snooze",
    "stall_flags_clear",
    "stall_flags_refresh",
    "stall_rule_set",
    "stall_rules_for_org",
    "stall_rules_for_process",
    "stall_rules_for_stage",
    "stall_thresholds",
    "visible_flags",
    "with_level_rank",
]
