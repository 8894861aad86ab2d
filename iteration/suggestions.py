"""Suggestions: changes to a process that its own data supports, each with its evidence, for ops to
apply in one click (through the process services, so a new process version records it, its note naming
the suggestion) or to dismiss with a reason.

The nightly job (`suggestions_refresh_all`, also run after every metrics refresh) looks at the last
WINDOW_DAYS of stage entries of each active process and writes one open suggestion per subject:

- **expected_days** — a stage whose observed p75 of days in stage (the metrics engine's, over the deals
  that left it) differs from its `expected_days` by more than EXPECTED_DAYS_TOLERANCE, or a stage
  without `expected_days`: "set expected days to N", N = the p75 rounded to whole days (at least 1).
  Needs MIN_STAYS deals that left the stage.
- **make_mandatory** — an *optional* exit criterion whose completion goes with a clearly higher
  conversion of its stage: among the deals whose first entry into the stage resolved (advanced or
  dropped, the engine's definitions), those that met the criterion before leaving the stage against
  those that did not; both sides at least MIN_RESOLVED deals and the 95% interval of the difference
  (Newcombe) above 0.
- **relax** — a *mandatory* exit criterion with no measurable association. Its stage conversion cannot
  tell (the gate blocks deals that do not meet it), so the outcome is the win rate of the deals that
  advanced from the stage and closed: those that met it against those that went through without it
  (a manager's override, history imported from before the rule, a version where it was optional). Both
  sides at least MIN_RESOLVED, together at least RELAX_MIN_DEALS, and the interval contains 0.
- **retire_play** — a play (see "Plays" below) whose effectiveness (playbooks.effectiveness) says "no
  measurable effect" after at least RETIRE_MIN_DEALS attached deals, or "hurts": "retire or rework it".
  Applying deactivates the play (no process version: plays are not part of the process).
- **adopt_play** — a play with a target stage and steps whose effectiveness says "helps": "make its steps
  part of the stage". Applying adds each of its steps as an optional exit criterion of the target stage
  (through criterion_add, so the process gets new versions, each noting the suggestion); steps the stage
  already has as criteria (same label) are skipped.
- **review_stage** — a stage many deals move backwards from, or skip (a move from a lower stage, or a
  deal's first entry, straight to a higher one): over the deals that entered or skipped the stage, the
  share is at least REVIEW_RATE with its Wilson interval's lower bound at least REVIEW_LOWER_BOUND, over
  at least MIN_RESOLVED deals. Advice only: ops look at the stage, then dismiss the suggestion with
  what they decided.

"Met before leaving" per criterion kind: a plan step completed, an answer given, a stakeholder of the
role added, or an activity of the kind logged in the stage — at or before the entry's `left_at` (any
time while the deal is still there); a deal field filled counts as it is now (field edits have no
history). These are associations, not proof of cause: the evidence says so, and shows the numbers.

Plays: each active play is suggested about under one process, its "home": its target stage's process,
else its playbook's process, else the organization's first active process. The verdict is the play's
overall one (the target-stage conversion when it has a target stage, else the win rate).

A refresh updates the evidence of suggestions that still hold, withdraws (deletes) open ones the data
no longer supports, and does not bring back, for DISMISSED_QUIET_DAYS, a suggestion dismissed with the
same change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.db.models import (
    BooleanField,
    Count,
    DateTimeField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from deals.models import (
    Activity,
    CriterionAnswer,
    DealStakeholder,
    DealStatus,
    DealStep,
    DealTag,
    StageChange,
)
from iteration.compare import MIN_RESOLVED, newcombe_interval
from iteration.metrics import MetricFilters, process_metrics
from iteration.models import Suggestion, SuggestionKind, SuggestionStatus
from iteration.stats import two_proportion_p_value, wilson_interval
from iteration.trends import first_entries
from orgs.models import Membership
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.models import CriterionKind, ExitCriterion, Importance, Process, ProcessVersion, Stage

WINDOW_DAYS = 365
MIN_STAYS = 30
EXPECTED_DAYS_TOLERANCE = 0.30
RELAX_MIN_DEALS = 100
REVIEW_RATE = 0.25
REVIEW_LOWER_BOUND = 0.15
RETIRE_MIN_DEALS = 200
DISMISSED_QUIET_DAYS = 90
MAX_REASON = 1000

_FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
_TEXT_FIELDS = {"industry", "lead_source"}


@dataclass
class Candidate:
    kind: str
    subject: str
    title: str
    evidence: dict
    change: dict = field(default_factory=dict)
    stage: Stage | None = None
    criterion: ExitCriterion | None = None
    play: object | None = None


@dataclass(frozen=True)
class RefreshResult:
    created: int
    updated: int
    withdrawn: int


# Numbers ---------------------------------------------------------------------------------------------


def _share(successes: int, n: int) -> dict:
    ci = wilson_interval(successes, n)
    return {
        "n": n,
        "successes": successes,
        "rate": round(successes / n, 4) if n else None,
        "ci": [round(ci[0], 4), round(ci[1], 4)] if ci else None,
    }


def _difference(a_success: int, a_n: int, b_success: int, b_n: int) -> dict:
    """B − A: the difference of two rates with its Newcombe 95% interval and the z-test's p-value."""
    interval = newcombe_interval(a_success, a_n, b_success, b_n)
    return {
        "difference": round(b_success / b_n - a_success / a_n, 4) if a_n and b_n else None,
        "difference_ci": [round(interval[0], 4), round(interval[1], 4)] if interval else None,
        "p_value": (
            None if (p := two_proportion_p_value(a_success, a_n, b_success, b_n)) is None else round(p, 4)
        ),
    }


def _pct(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.0f}%"


# Expected days ---------------------------------------------------------------------------------------


def _expected_days_candidates(stages: dict[int, Stage], metrics: dict) -> list[Candidate]:
    out = []
    for row in metrics["stages"]:
        stage = stages.get(row["stage_id"])
        days = row["days_in_stage"]
        p75, n = days["p75"], days["n"]
        if stage is None or p75 is None or n < MIN_STAYS:
            continue
        proposed = max(1, round(p75))
        current = stage.expected_days
        if current is not None:
            gap = abs(p75 - current) / current
            if gap <= EXPECTED_DAYS_TOLERANCE or proposed == current:
                continue
        else:
            gap = None
        evidence = {
            "p75_days": p75,
            "median_days": days["median"],
            "p90_days": days["p90"],
            "left": n,
            "expected_days": current,
            "gap": None if gap is None else round(gap, 4),
            "tolerance": EXPECTED_DAYS_TOLERANCE,
        }
        if current is None:
            summary = (
                f"{n} deals left {stage.name} in the window; 75% of them within {p75:g} days. The stage "
                "has no expected days, so stalls use the data-driven threshold."
            )
        else:
            summary = (
                f"{n} deals left {stage.name} in the window; 75% of them within {p75:g} days, "
                f"{gap * 100:.0f}% {'more' if p75 > current else 'less'} than the expected {current} days."
            )
        evidence["summary"] = summary
        out.append(
            Candidate(
                kind=SuggestionKind.EXPECTED_DAYS,
                subject=f"stage:{stage.id}",
                title=f"{stage.name}: set expected days to {proposed}",
                evidence=evidence,
                change={"expected_days": proposed},
                stage=stage,
            )
        )
    return out


# Exit criteria ---------------------------------------------------------------------------------------


def _met_before_leaving(criterion: ExitCriterion):
    """A boolean expression over a first entry (StageChange): the criterion was met before the deal left
    the stage (see the module docstring)."""
    until = Coalesce(OuterRef("left_at"), Value(_FAR_FUTURE), output_field=DateTimeField())
    deal = OuterRef("deal_id")
    kind = criterion.kind
    if kind == CriterionKind.STEP:
        return Exists(
            DealStep.objects.filter(
                deal_id=deal, criterion_id=criterion.id, completed_at__isnull=False, completed_at__lte=until
            )
        )
    if kind == CriterionKind.ANSWER:
        return Exists(
            CriterionAnswer.objects.filter(
                deal_id=deal, criterion_id=criterion.id, answered_at__lte=until
            ).exclude(text="")
        )
    if kind == CriterionKind.STAKEHOLDER_ROLE:
        return Exists(
            DealStakeholder.objects.filter(deal_id=deal, role=criterion.role, created_at__lte=until)
        )
    if kind == CriterionKind.ACTIVITY_KIND:
        return Exists(
            Activity.objects.filter(
                deal_id=deal,
                kind=criterion.activity_kind,
                occurred_at__gte=OuterRef("entered_at"),
                occurred_at__lte=until,
            )
        )
    name = criterion.field_name
    if name in ("competitors", "objections"):
        tag = "competitor" if name == "competitors" else "objection"
        return Exists(DealTag.objects.filter(deal_id=deal, kind=tag))
    if name == "amount":
        condition = Q(deal__amount__gt=0)
    elif name == "account":
        condition = Q(deal__account__isnull=False)
    elif name in _TEXT_FIELDS:
        condition = Q(**{f"deal__{name}__isnull": False}) & ~Q(**{f"deal__{name}": ""})
    else:
        condition = Q(**{f"deal__{name}__isnull": False})
    return ExpressionWrapper(condition, output_field=BooleanField())


def _criteria_counts(
    process: Process, stage: Stage, criteria: list[ExitCriterion], window_from: datetime
) -> dict:
    """One query: per criterion of the stage, over the window's first entries into it, the resolved
    deals and the advanced ones that met it and that did not, and the same for wins among the deals
    that advanced and closed."""
    qs = first_entries(process=process, filters=MetricFilters(entered_from=window_from)).filter(
        to_stage=stage
    )
    qs = qs.annotate(**{f"met_{c.id}": _met_before_leaving(c) for c in criteria})
    resolved = Q(advanced=1) | Q(dropped=1)
    advanced_closed = Q(advanced=1, deal__status__in=[DealStatus.WON, DealStatus.LOST])
    aggregates = {}
    for c in criteria:
        for side, met in (("met", Q(**{f"met_{c.id}": True})), ("unmet", Q(**{f"met_{c.id}": False}))):
            aggregates[f"{c.id}_{side}_resolved"] = Count("id", filter=met & resolved)
            aggregates[f"{c.id}_{side}_advanced"] = Count("id", filter=met & Q(advanced=1))
            aggregates[f"{c.id}_{side}_closed"] = Count("id", filter=met & advanced_closed)
            aggregates[f"{c.id}_{side}_won"] = Count(
                "id", filter=met & Q(advanced=1, deal__status=DealStatus.WON)
            )
    return qs.aggregate(**aggregates)


def _criterion_candidates(
    process: Process, stage: Stage, criteria: list[ExitCriterion], window_from: datetime
) -> list[Candidate]:
    counts = _criteria_counts(process, stage, criteria, window_from)
    out = []
    for c in criteria:
        n = {key: counts[f"{c.id}_{key}"] or 0 for key in _COUNT_KEYS}
        conversion = {
            "met": _share(n["met_advanced"], n["met_resolved"]),
            "unmet": _share(n["unmet_advanced"], n["unmet_resolved"]),
            **_difference(n["unmet_advanced"], n["unmet_resolved"], n["met_advanced"], n["met_resolved"]),
        }
        wins = {
            "met": _share(n["met_won"], n["met_closed"]),
            "unmet": _share(n["unmet_won"], n["unmet_closed"]),
            **_difference(n["unmet_won"], n["unmet_closed"], n["met_won"], n["met_closed"]),
        }
        evidence = {"conversion": conversion, "win_rate_after_advancing": wins, "min_resolved": MIN_RESOLVED}
        if c.importance == Importance.OPTIONAL:
            ci = conversion["difference_ci"]
            enough = min(n["met_resolved"], n["unmet_resolved"]) >= MIN_RESOLVED
            if enough and ci is not None and ci[0] > 0:
                evidence["summary"] = (
                    f"Deals that met “{c.label}” before leaving {stage.name} advanced "
                    f"{_pct(conversion['met']['rate'])} of the time ({n['met_resolved']} deals), those that "
                    f"did not {_pct(conversion['unmet']['rate'])} ({n['unmet_resolved']} deals). "
                    "An association, not proof of cause."
                )
                out.append(
                    _importance_candidate(
                        SuggestionKind.MAKE_MANDATORY, c, stage, evidence, f"make “{c.label}” mandatory"
                    )
                )
        elif c.importance == Importance.MANDATORY:
            ci = wins["difference_ci"]
            enough = (
                min(n["met_closed"], n["unmet_closed"]) >= MIN_RESOLVED
                and n["met_closed"] + n["unmet_closed"] >= RELAX_MIN_DEALS
            )
            if enough and ci is not None and ci[0] <= 0 <= ci[1]:
                evidence["min_deals"] = RELAX_MIN_DEALS
                evidence["summary"] = (
                    f"Of the deals that went through {stage.name} and closed, those that met “{c.label}” "
                    f"won {_pct(wins['met']['rate'])} ({n['met_closed']} deals), those that went through "
                    f"without it {_pct(wins['unmet']['rate'])} ({n['unmet_closed']} deals): no measurable "
                    "difference."
                )
                out.append(
                    _importance_candidate(
                        SuggestionKind.RELAX, c, stage, evidence, f"consider making “{c.label}” optional"
                    )
                )
    return out


def _importance_candidate(kind: str, c: ExitCriterion, stage: Stage, evidence: dict, what: str) -> Candidate:
    """Make the criterion mandatory, or optional (relax)."""
    importance = Importance.MANDATORY if kind == SuggestionKind.MAKE_MANDATORY else Importance.OPTIONAL
    return Candidate(
        kind=kind,
        subject=f"criterion:{c.id}",
        title=f"{stage.name}: {what}",
        evidence=evidence,
        change={"importance": importance},
        stage=stage,
        criterion=c,
    )


_COUNT_KEYS = [f"{side}_{k}" for side in ("met", "unmet") for k in ("resolved", "advanced", "closed", "won")]


# Backward moves and skips ----------------------------------------------------------------------------


def _review_candidates(process: Process, stages: list[Stage], window_from: datetime) -> list[Candidate]:
    """One query: per stage, the deals (with an entry in the window) that entered it, moved backwards
    from it, or skipped it."""
    entries = StageChange.objects.filter(
        organization_id=process.organization_id,
        deal__process=process,
        to_stage__process=process,
        entered_at__gte=window_from,
    )
    aggregates = {}
    for s in stages:
        skipped = Q(to_stage__order__gt=s.order) & (
            Q(from_stage__isnull=True) | Q(from_stage__order__lt=s.order)
        )
        aggregates[f"{s.id}_entered"] = Count("deal_id", distinct=True, filter=Q(to_stage_id=s.id))
        aggregates[f"{s.id}_passed"] = Count("deal_id", distinct=True, filter=Q(to_stage_id=s.id) | skipped)
        aggregates[f"{s.id}_backward"] = Count(
            "deal_id", distinct=True, filter=Q(from_stage_id=s.id, to_stage__order__lt=s.order)
        )
        aggregates[f"{s.id}_skipped"] = Count("deal_id", distinct=True, filter=skipped)
    counts = entries.aggregate(**aggregates) if stages else {}
    out = []
    for s in stages:
        entered, passed = counts[f"{s.id}_entered"] or 0, counts[f"{s.id}_passed"] or 0
        backward, skipped = counts[f"{s.id}_backward"] or 0, counts[f"{s.id}_skipped"] or 0
        back_share, skip_share = _share(backward, entered), _share(skipped, passed)
        reasons = []
        for label, share in (("moved backwards from it", back_share), ("skipped it", skip_share)):
            if (
                share["n"] >= MIN_RESOLVED
                and share["rate"] >= REVIEW_RATE
                and share["ci"][0] >= REVIEW_LOWER_BOUND
            ):
                reasons.append(f"{_pct(share['rate'])} of {share['n']} deals {label}")
        if not reasons:
            continue
        out.append(
            Candidate(
                kind=SuggestionKind.REVIEW_STAGE,
                subject=f"stage:{s.id}",
                title=f"Review the stage {s.name}",
                evidence={
                    "backward": back_share,
                    "skipped": skip_share,
                    "review_rate": REVIEW_RATE,
                    "summary": "In the window, " + " and ".join(reasons) + ".",
                },
                stage=s,
            )
        )
    return out


# Plays -----------------------------------------------------------------------------------------------


def _home_plays(process: Process) -> list:
    """The active plays whose suggestions live under `process` (see the module docstring)."""
    from playbooks.models import Play

    first_active = (
        Process.objects.filter(organization_id=process.organization_id, is_active=True)
        .order_by("id")
        .values_list("id", flat=True)
        .first()
    )
    home = Q(target_stage__process_id=process.id) | Q(
        target_stage__isnull=True, playbook__process_id=process.id
    )
    if first_active == process.id:
        home |= Q(target_stage__isnull=True, playbook__process__isnull=True)
    return list(
        Play.objects.filter(organization_id=process.organization_id, active=True, playbook__active=True)
        .filter(home)
        .select_related("playbook", "target_stage")
    )


def _play_candidates(process: Process, now: datetime) -> list[Candidate]:
    from playbooks.effectiveness import HELPS, HURTS, NO_EFFECT, play_effectiveness
    from playbooks.models import PlayStep

    out = []
    for play in _home_plays(process):
        result = play_effectiveness(play=play, now=now)
        deciding = result["stage_conversion"] or result["win_rate"]
        measure = "conversion of " + result["target_stage"] if result["stage_conversion"] else "win rate"
        treated, comparison = deciding["treated"], deciding["comparison"]
        numbers = (
            f"{measure}: {_pct(treated['rate'])} on the {treated['n']} deals it was attached to against "
            f"{_pct(comparison['rate'])} on {comparison['n']} comparable deals"
        )
        evidence = {"effectiveness": result, "measure": measure, "min_deals": RETIRE_MIN_DEALS}
        verdict = result["verdict"]
        if verdict == HURTS or (verdict == NO_EFFECT and treated["n"] >= RETIRE_MIN_DEALS):
            evidence["summary"] = (
                f"{'Worse' if verdict == HURTS else 'No measurable difference'}: {numbers}. "
                "An association, not proof of cause."
            )
            title = (
                f"Play “{play.name}” goes with worse results: retire or rework it"
                if verdict == HURTS
                else f"Play “{play.name}” shows no effect after {treated['n']} deals: retire or rework it"
            )
            out.append(
                Candidate(
                    kind=SuggestionKind.RETIRE_PLAY,
                    subject=f"play:{play.id}",
                    title=title,
                    evidence=evidence,
                    change={"active": False},
                    play=play,
                    stage=play.target_stage,
                )
            )
        elif verdict == HELPS and play.target_stage is not None:
            steps = list(
                PlayStep.objects.filter(play=play).order_by("order", "id").values_list("id", flat=True)
            )
            if not steps:
                continue
            evidence["summary"] = f"Better: {numbers}. An association, not proof of cause."
            out.append(
                Candidate(
                    kind=SuggestionKind.ADOPT_PLAY,
                    subject=f"play:{play.id}",
                    title=f"Play “{play.name}” helps: make its steps part of {play.target_stage.name}",
                    evidence=evidence,
                    change={"adopt_steps": steps},
                    play=play,
                    stage=play.target_stage,
                )
            )
    return out


# Refresh ---------------------------------------------------------------------------------------------


def suggestion_candidates(*, process: Process, now: datetime | None = None) -> list[Candidate]:
    """What the data of the last WINDOW_DAYS supports for this process (see the module docstring)."""
    now = now or timezone.now()
    window_from = now - timedelta(days=WINDOW_DAYS)
    stages = list(
        Stage.objects.filter(process=process, organization_id=process.organization_id).order_by("order")
    )
    if not stages:
        return []
    metrics = process_metrics(process=process, filters=MetricFilters(entered_from=window_from), now=now)
    candidates = _expected_days_candidates({s.id: s for s in stages}, metrics)
    criteria = list(
        ExitCriterion.objects.filter(
            stage__process=process, importance__in=[Importance.OPTIONAL, Importance.MANDATORY]
        ).order_by("stage__order", "order", "id")
    )
    by_stage: dict[int, list[ExitCriterion]] = {}
    for c in criteria:
        by_stage.setdefault(c.stage_id, []).append(c)
    for stage in stages:
        if stage.id in by_stage:
            candidates += _criterion_candidates(process, stage, by_stage[stage.id], window_from)
    candidates += _review_candidates(process, stages, window_from)
    candidates += _play_candidates(process, now)
    for candidate in candidates:
        candidate.evidence["window_days"] = WINDOW_DAYS
        candidate.evidence["computed_at"] = now.isoformat()
    return candidates


@transaction.atomic
def suggestions_refresh(*, process: Process, now: datetime | None = None) -> RefreshResult:
    """Bring the process's open suggestions in line with its data: refresh those that still hold,
    write new ones, withdraw the rest. Serialized per process (the process row is locked)."""
    now = now or timezone.now()
    Process.objects.select_for_update().filter(pk=process.pk).first()
    candidates = suggestion_candidates(process=process, now=now)
    open_ = {
        (s.kind, s.subject): s
        for s in Suggestion.objects.filter(process=process, status=SuggestionStatus.OPEN)
    }
    quiet = {
        (s.kind, s.subject, _change_key(s.change))
        for s in Suggestion.objects.filter(
            process=process,
            status=SuggestionStatus.DISMISSED,
            decided_at__gte=now - timedelta(days=DISMISSED_QUIET_DAYS),
        )
    }
    created = updated = 0
    for c in candidates:
        existing = open_.pop((c.kind, c.subject), None)
        if existing is not None:
            existing.title, existing.evidence, existing.change = c.title, c.evidence, c.change
            existing.stage, existing.criterion, existing.play = c.stage, c.criterion, c.play
            existing.updated_at = now
            existing.save(
                update_fields=["title", "evidence", "change", "stage", "criterion", "play", "updated_at"]
            )
            updated += 1
        elif (c.kind, c.subject, _change_key(c.change)) not in quiet:
            Suggestion.objects.create(
                organization_id=process.organization_id,
                process=process,
                stage=c.stage,
                criterion=c.criterion,
                play=c.play,
                kind=c.kind,
                subject=c.subject,
                title=c.title,
                evidence=c.evidence,
                change=c.change,
                created_at=now,
                updated_at=now,
            )
            created += 1
    withdrawn = len(open_)
    if open_:
        Suggestion.objects.filter(pk__in=[s.pk for s in open_.values()]).delete()
    return RefreshResult(created=created, updated=updated, withdrawn=withdrawn)


def _change_key(change: dict) -> str:
    return ",".join(f"{k}={change[k]}" for k in sorted(change))


def suggestions_refresh_all(*, now: datetime | None = None) -> int:
    """Nightly: refresh the suggestions of every active process. Returns how many processes."""
    count = 0
    for process in Process.objects.filter(is_active=True).order_by("id"):
        suggestions_refresh(process=process, now=now)
        count += 1
    return count


# Deciding --------------------------------------------------------------------------------------------


def _require_ops(by: Membership, suggestion: Suggestion) -> None:
    if by.organization_id != suggestion.organization_id:
        raise NotAllowed("This suggestion belongs to another organization.")
    if not by.can_edit_process:
        raise NotAllowed("Only ops and admins decide on suggestions.")


def _locked_open(suggestion: Suggestion) -> Suggestion:
    locked = (
        Suggestion.objects.select_for_update(of=("self",))
        .select_related("stage", "criterion", "process", "play")
        .get(pk=suggestion.pk)
    )
    if locked.status != SuggestionStatus.OPEN:
        raise InvalidInput(f"This suggestion was already {locked.get_status_display().lower()}.")
    return locked


@transaction.atomic
def suggestion_apply(*, suggestion: Suggestion, by: Membership) -> ProcessVersion | None:
    """Make the suggested change through the services: for the process, a new process version whose note
    names the suggestion (returned); retiring a play deactivates it (None: plays are not part of the
    process). Refused for advice-only suggestions, for decided ones, and when the change is already in
    place."""
    from salesproc.services import criterion_update, stage_update

    _require_ops(by, suggestion)
    s = _locked_open(suggestion)
    if not s.change:
        raise InvalidInput(
            "This suggestion is advice: review the stage in the process editor, then dismiss it."
        )
    note = f"Suggestion #{s.id}: {s.title}"
    version = None
    if s.kind == SuggestionKind.EXPECTED_DAYS:
        if s.stage is None:
            raise InvalidInput("The stage of this suggestion no longer exists.")
        if s.stage.expected_days == s.change["expected_days"]:
            raise InvalidInput(f"{s.stage.name} already expects {s.stage.expected_days} days.")
        stage_update(stage=s.stage, by=by, note=note, expected_days=s.change["expected_days"])
    elif s.kind in (SuggestionKind.MAKE_MANDATORY, SuggestionKind.RELAX):
        if s.criterion is None:
            raise InvalidInput("The exit criterion of this suggestion no longer exists.")
        if s.criterion.importance == s.change["importance"]:
            raise InvalidInput(f"“{s.criterion.label}” is already {s.criterion.importance}.")
        criterion_update(criterion=s.criterion, by=by, note=note, importance=s.change["importance"])
    elif s.kind == SuggestionKind.RETIRE_PLAY:
        _retire_play(s, by)
    elif s.kind == SuggestionKind.ADOPT_PLAY:
        _adopt_play(s, by, note)
    if s.kind != SuggestionKind.RETIRE_PLAY:
        version = ProcessVersion.objects.filter(process=s.process).order_by("-number").first()
    Suggestion.objects.filter(pk=s.pk).update(
        status=SuggestionStatus.APPLIED,
        decided_by=by.user,
        decided_at=timezone.now(),
        applied_version=version,
        updated_at=timezone.now(),
    )
    suggestion.refresh_from_db()
    return version


def _retire_play(s: Suggestion, by: Membership) -> None:
    from playbooks.services import play_set_active

    if s.play is None:
        raise InvalidInput("The play of this suggestion no longer exists.")
    if not s.play.active:
        raise InvalidInput(f"The play “{s.play.name}” is already inactive.")
    play_set_active(play=s.play, by=by, active=False)


def _adopt_play(s: Suggestion, by: Membership, note: str) -> None:
    from playbooks.models import PlayStep
    from salesproc.services import criterion_add

    if s.play is None or s.stage is None:
        raise InvalidInput("The play or the stage of this suggestion no longer exists.")
    steps = list(
        PlayStep.objects.filter(play=s.play, id__in=s.change.get("adopt_steps", [])).order_by("order")
    )
    have = {
        label.lower() for label in ExitCriterion.objects.filter(stage=s.stage).values_list("label", flat=True)
    }
    new = [step for step in steps if step.title.lower() not in have]
    if not new:
        raise InvalidInput(f"{s.stage.name} already has the play's steps as exit criteria.")
    for step in new:
        criterion_add(
            stage=s.stage,
            by=by,
            note=note,
            kind="step",
            label=step.title[:200],
            importance=Importance.OPTIONAL,
            description=step.description,
        )


@transaction.atomic
def suggestion_dismiss(*, suggestion: Suggestion, by: Membership, reason: str) -> Suggestion:
    """Dismiss with a reason (required): it is what the team decided, and the job will not bring the same
    suggestion back for DISMISSED_QUIET_DAYS."""
    _require_ops(by, suggestion)
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput({"reason": ["Say why the suggestion is dismissed."]})
    if len(reason) > MAX_REASON:
        raise InvalidInput({"reason": [f"At most {MAX_REASON} characters."]})
    s = _locked_open(suggestion)
    Suggestion.objects.filter(pk=s.pk).update(
        status=SuggestionStatus.DISMISSED,
        decided_by=by.user,
        decided_at=timezone.now(),
        dismiss_reason=reason,
        updated_at=timezone.now(),
    )
    suggestion.refresh_from_db()
    return suggestion
