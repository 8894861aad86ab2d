"""Every write to scorecards: ops edit a process's scorecard; the deal's editors answer it.

Edits of the scorecard lock its row and, when they change what a score or result means (a weight, the
threshold, a criterion added or removed), recompute every deal of the process in the same transaction
with one statement (scorecards.scoring). An answer locks the scorecard FOR SHARE, then the deal, and
recomputes that deal. Bad input raises InvalidInput naming the field before anything is written."""

from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from deals.lock_objects import deal_for_update
from deals.models import Deal
from deals.services.common import clean_text, raise_if, require_deal_editor
from orgs.models import Membership
from playbooks.triggering import deal_plays_refresh_on_commit
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.models import Process
from scorecards.lock_objects import scorecard_for_share, scorecard_for_update
from scorecards.models import (
    MAX_POINTS,
    MAX_WEIGHT,
    AnswerScale,
    DealScorecard,
    DealScorecardAnswer,
    Scorecard,
    ScorecardCriterion,
)
from scorecards.scoring import deal_result, deal_score, deal_scorecards_recompute

MAX_CRITERIA = 30
DEFAULT_MAX_POINTS = 3

SCORECARD_EDITABLE = ("name", "threshold", "active")
CRITERION_EDITABLE = ("label", "help_text", "weight", "scale", "max_points")


def require_scorecard_editor(by: Membership | None, organization_id: int) -> None:
    """Ops and admins edit scorecards. `by=None` is for trusted system callers (the demo seeder)."""
    if by is None:
        return
    if by.organization_id != organization_id:
        # Never confirm that another organization's scorecard exists.
        raise InvalidInput({"__all__": ["Not found."]})
    if not by.can_edit_process:
        raise NotAllowed("Only ops can edit the qualification scorecard.")


# ---------------------------------------------------------------------------------------------------
# Input cleaning


def clean_whole(value, field: str, errors: dict, *, minimum: int, maximum: int) -> int | None:
    """A whole number in [minimum, maximum] from an int or its digits as text; otherwise a message."""
    message = f"A whole number from {minimum} to {maximum}."
    if isinstance(value, bool):
        errors[field] = [message]
        return None
    if isinstance(value, str):
        text = value.strip()
        if not text.lstrip("-").isdigit() or not text.isascii():
            errors[field] = [message]
            return None
        value = int(text)
    if not isinstance(value, int) or not minimum <= value <= maximum:
        errors[field] = [message]
        return None
    return value


def _clean_bool(value, field: str, errors: dict) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    errors[field] = ["Yes or no."]
    return False


def _refuse_unknown(fields: dict, editable: tuple[str, ...]) -> None:
    unknown = sorted(set(fields) - set(editable))
    if unknown:
        raise InvalidInput({name: ["This field cannot be changed here."] for name in unknown})


def _clean_scorecard_fields(fields: dict) -> dict:
    errors: dict[str, list[str]] = {}
    out: dict = {}
    if "name" in fields:
        out["name"] = clean_text(fields["name"], "name", errors, max_length=120, required=True)
    if "threshold" in fields:
        out["threshold"] = clean_whole(fields["threshold"], "threshold", errors, minimum=0, maximum=100)
    if "active" in fields:
        out["active"] = _clean_bool(fields["active"], "active", errors)
    raise_if(errors)
    return out


def _clean_criterion_fields(fields: dict, *, current: ScorecardCriterion | None) -> dict:
    """The criterion's fields, checked together (the scale decides which max_points are allowed)."""
    errors: dict[str, list[str]] = {}
    out: dict = {}
    if "label" in fields:
        out["label"] = clean_text(fields["label"], "label", errors, max_length=200, required=True)
    if "help_text" in fields:
        out["help_text"] = clean_text(fields["help_text"], "help_text", errors, max_length=2000)
    if "weight" in fields:
        out["weight"] = clean_whole(fields["weight"], "weight", errors, minimum=1, maximum=MAX_WEIGHT)
    scale = fields.get("scale", current.scale if current else AnswerScale.POINTS)
    if scale not in AnswerScale.values:
        errors["scale"] = [f"Choose one of {', '.join(AnswerScale.values)}."]
    elif scale == AnswerScale.YES_NO:
        if fields.get("max_points") not in (None, "", 1, "1"):
            errors["max_points"] = ["A yes / no answer is worth 0 or 1 point."]
        out["scale"], out["max_points"] = scale, 1
    else:
        raw = fields.get("max_points")
        if raw in (None, ""):
            keep = current is not None and current.scale == AnswerScale.POINTS
            raw = current.max_points if keep else DEFAULT_MAX_POINTS
        out["scale"] = scale
        out["max_points"] = clean_whole(raw, "max_points", errors, minimum=2, maximum=MAX_POINTS)
    raise_if(errors)
    return out


# ---------------------------------------------------------------------------------------------------
# The scorecard


@transaction.atomic
def scorecard_create(
    *, process: Process, by: Membership | None, name: str = "Qualification", threshold=60, active=True
) -> Scorecard:
    """The process's scorecard, with no criteria yet. A process has at most one."""
    require_scorecard_editor(by, process.organization_id)
    fields = _clean_scorecard_fields({"name": name, "threshold": threshold, "active": active})
    if Scorecard.objects.filter(process=process).exists():
        raise InvalidInput({"__all__": ["This process already has a scorecard."]})
    try:
        with transaction.atomic():
            return Scorecard.objects.create(
                organization_id=process.organization_id, process=process, **fields
            )
    except IntegrityError:
        # Another request created it meanwhile.
        raise InvalidInput({"__all__": ["This process already has a scorecard."]}) from None


@transaction.atomic
def scorecard_update(*, scorecard: Scorecard, by: Membership | None, **fields) -> Scorecard:
    """Rename, set the threshold or switch the scorecard on or off. A new threshold recomputes every
    deal's result."""
    require_scorecard_editor(by, scorecard.organization_id)
    _refuse_unknown(fields, SCORECARD_EDITABLE)
    fields = _clean_scorecard_fields(fields)
    locked = scorecard_for_update(scorecard.pk)
    threshold_changed = "threshold" in fields and fields["threshold"] != locked.threshold
    for name, value in fields.items():
        setattr(locked, name, value)
    locked.updated_at = timezone.now()
    locked.save(update_fields=[*fields, "updated_at"])
    if threshold_changed:
        _recompute_all(locked, by)
    return locked


# ---------------------------------------------------------------------------------------------------
# Criteria


def _label_taken(scorecard: Scorecard, label: str, *, exclude_id: int | None = None) -> bool:
    qs = ScorecardCriterion.objects.filter(scorecard=scorecard, label__iexact=label)
    if exclude_id is not None:
        qs = qs.exclude(pk=exclude_id)
    return qs.exists()


@transaction.atomic
def scorecard_criterion_add(
    *,
    scorecard: Scorecard,
    by: Membership | None,
    label: str,
    help_text: str = "",
    weight=1,
    scale: str = AnswerScale.POINTS,
    max_points=None,
) -> ScorecardCriterion:
    """A criterion at the end of the scorecard. Every deal already scored is incomplete until it
    answers the new one: their results are recomputed."""
    require_scorecard_editor(by, scorecard.organization_id)
    fields = _clean_criterion_fields(
        {"label": label, "help_text": help_text, "weight": weight, "scale": scale, "max_points": max_points},
        current=None,
    )
    locked = scorecard_for_update(scorecard.pk)
    existing = ScorecardCriterion.objects.filter(scorecard=locked)
    if existing.count() >= MAX_CRITERIA:
        raise InvalidInput({"__all__": [f"A scorecard has at most {MAX_CRITERIA} criteria."]})
    if _label_taken(locked, fields["label"]):
        raise InvalidInput({"label": ["This scorecard already has that criterion."]})
    order = (existing.aggregate(m=Max("order"))["m"] or 0) + 1
    criterion = ScorecardCriterion.objects.create(
        organization_id=locked.organization_id, scorecard=locked, order=order, **fields
    )
    _recompute_all(locked, by)
    return criterion


@transaction.atomic
def scorecard_criterion_update(
    *, criterion: ScorecardCriterion, by: Membership | None, **fields
) -> ScorecardCriterion:
    """Edit a criterion. A new weight recomputes every deal's score; the scale of a criterion deals
    have answered stays (their answers were given on it)."""
    require_scorecard_editor(by, criterion.organization_id)
    _refuse_unknown(fields, CRITERION_EDITABLE)
    cleaned = _clean_criterion_fields(fields, current=criterion)
    locked = scorecard_for_update(criterion.scorecard_id)
    current = ScorecardCriterion.objects.get(pk=criterion.pk)
    if "label" in cleaned and _label_taken(locked, cleaned["label"], exclude_id=current.pk):
        raise InvalidInput({"label": ["This scorecard already has that criterion."]})
    rescaled = (cleaned["scale"], cleaned["max_points"]) != (current.scale, current.max_points)
    if rescaled and DealScorecardAnswer.objects.filter(criterion=current).exists():
        field = "scale" if cleaned["scale"] != current.scale else "max_points"
        raise InvalidInput(
            {field: ["Deals have answered this criterion on its scale: add a new criterion instead."]}
        )
    reweighted = "weight" in cleaned and cleaned["weight"] != current.weight
    for name, value in cleaned.items():
        setattr(current, name, value)
    current.save(update_fields=list(cleaned))
    if reweighted:
        _recompute_all(locked, by)
    return current


@transaction.atomic
def scorecard_criterion_delete(*, criterion: ScorecardCriterion, by: Membership | None) -> None:
    """Remove a criterion and the deals' answers to it; their scores and results are recomputed (a
    deal whose only answer it was is not scored any more)."""
    require_scorecard_editor(by, criterion.organization_id)
    locked = scorecard_for_update(criterion.scorecard_id)
    ScorecardCriterion.objects.filter(pk=criterion.pk).delete()
    _recompute_all(locked, by)


@transaction.atomic
def scorecard_criterion_reorder(
    *, scorecard: Scorecard, by: Membership | None, criterion_ids: list[int]
) -> None:
    """Put the scorecard's criteria in the given order (every criterion exactly once)."""
    require_scorecard_editor(by, scorecard.organization_id)
    locked = scorecard_for_update(scorecard.pk)
    rows = {c.pk: c for c in ScorecardCriterion.objects.filter(scorecard=locked)}
    if len(criterion_ids) != len(set(criterion_ids)) or set(criterion_ids) != set(rows):
        raise InvalidInput({"criterion_ids": ["List every criterion of the scorecard exactly once."]})
    for position, pk in enumerate(criterion_ids, start=1):
        rows[pk].order = position
    ScorecardCriterion.objects.bulk_update(list(rows.values()), ["order"])


# ---------------------------------------------------------------------------------------------------
# Answers


@dataclass(frozen=True)
class AnswerInput:
    """One answer to set: `value` None clears the deal's answer to the criterion."""

    criterion: ScorecardCriterion | int
    value: object
    note: str = ""


def _clean_value(criterion: ScorecardCriterion, value, field: str, errors: dict) -> int | None:
    """The points an answer is worth, or None to clear it."""
    if value is None or value == "":
        return None
    if criterion.scale == AnswerScale.YES_NO:
        if isinstance(value, bool):
            return int(value)
        text = str(value).strip().lower()
        if text in ("1", "yes", "true"):
            return 1
        if text in ("0", "no", "false"):
            return 0
        errors[field] = ["Answer yes or no."]
        return None
    return clean_whole(value, field, errors, minimum=0, maximum=criterion.max_points)


def deal_scorecard_of(deal: Deal) -> Scorecard | None:
    """The scorecard of the deal's process, or None."""
    return Scorecard.objects.filter(process_id=deal.process_id, organization_id=deal.organization_id).first()


@transaction.atomic
def deal_scorecard_answers_set(
    *, deal: Deal, by: Membership, answers: list[AnswerInput], prefix_fields: bool = True
) -> DealScorecard | None:
    """Set (or clear) several answers of the deal's scorecard at once and recompute its score and
    result, all or nothing. Open deals only: a closed deal's scorecard stays as it was at close, so
    the win rate by score measures what was known before the outcome. Errors name the answer:
    `answers.<i>.value` (plain `value` with `prefix_fields=False`, for a single answer). Returns the
    deal's scorecard, or None when it has no answer left."""
    require_deal_editor(by, deal)
    if not deal.is_open:
        raise InvalidInput(
            {"__all__": [f"This deal is {deal.status}: its scorecard stays as it was when it closed."]}
        )
    found = deal_scorecard_of(deal)
    if found is None or not found.active:
        raise InvalidInput({"__all__": ["This deal's process has no active qualification scorecard."]})
    scorecard = scorecard_for_share(found.pk)
    if not scorecard.active:
        raise InvalidInput({"__all__": ["This deal's process has no active qualification scorecard."]})
    criteria = {c.pk: c for c in ScorecardCriterion.objects.filter(scorecard=scorecard)}
    errors: dict[str, list[str]] = {}
    cleaned: dict[int, tuple[int | None, str]] = {}
    for i, answer in enumerate(answers):
        key = (lambda name, i=i: f"answers.{i}.{name}") if prefix_fields else (lambda name: name)
        criterion_id = getattr(answer.criterion, "pk", answer.criterion)
        criterion = criteria.get(criterion_id) if isinstance(criterion_id, int) else None
        if criterion is None:
            errors[key("criterion")] = ["Unknown criterion: not one of this deal's scorecard."]
            continue
        if criterion_id in cleaned:
            errors[key("criterion")] = ["This criterion is answered twice."]
            continue
        value = _clean_value(criterion, answer.value, key("value"), errors)
        note = clean_text(answer.note, key("note"), errors, max_length=2000)
        cleaned[criterion_id] = (value, note)
    raise_if(errors)

    deal_for_update(deal.pk)
    now = timezone.now()
    deal_scorecard = DealScorecard.objects.filter(deal_id=deal.pk).first()
    if deal_scorecard is None:
        if all(value is None for value, _ in cleaned.values()):
            return None
        deal_scorecard = DealScorecard.objects.create(
            organization_id=deal.organization_id, deal_id=deal.pk, scorecard=scorecard, updated_at=now
        )
    cleared = [cid for cid, (value, _) in cleaned.items() if value is None]
    if cleared:
        DealScorecardAnswer.objects.filter(deal_scorecard=deal_scorecard, criterion_id__in=cleared).delete()
    for criterion_id, (value, note) in cleaned.items():
        if value is not None:
            DealScorecardAnswer.objects.update_or_create(
                deal_scorecard=deal_scorecard,
                criterion_id=criterion_id,
                defaults={
                    "organization_id": deal.organization_id,
                    "value": value,
                    "note": note,
                    "by_id": by.user_id,
                    "at": now,
                },
            )
    result = _recompute_one(deal_scorecard, scorecard=scorecard, criteria=len(criteria), by=by, at=now)
    # The result and score are play conditions: the deal's plays follow, after commit.
    deal_plays_refresh_on_commit(deal.pk)
    return result


def deal_scorecard_answer(
    *, deal: Deal, criterion: ScorecardCriterion | int, value, note: str = "", by: Membership
) -> DealScorecard | None:
    """Set (or, with value None, clear) the deal's answer to one criterion and recompute its score and
    result in the same transaction. Errors name `criterion`, `value` or `note`."""
    return deal_scorecard_answers_set(
        deal=deal, by=by, answers=[AnswerInput(criterion, value, note)], prefix_fields=False
    )


def _recompute_all(scorecard: Scorecard, by: Membership | None) -> None:
    """Every deal's stored score and result, then a bulk re-evaluation of the organization's active
    plays whose conditions read them (after commit, as for any play change)."""
    from playbooks.conditions import InvalidCondition, parse
    from playbooks.models import Play
    from playbooks.triggering import play_evaluation_request

    deal_scorecards_recompute(scorecard=scorecard)
    for play in Play.objects.filter(organization_id=scorecard.organization_id, active=True).order_by("id"):
        try:
            reads = parse(play.condition).fields
        except InvalidCondition:
            continue
        if reads & {"scorecard_result", "scorecard_score"}:
            play_evaluation_request(play=play, by=by)


def _recompute_one(
    deal_scorecard: DealScorecard, *, scorecard: Scorecard, criteria: int, by: Membership, at
) -> DealScorecard | None:
    rows = list(
        DealScorecardAnswer.objects.filter(deal_scorecard=deal_scorecard).values_list(
            "criterion__weight", "value", "criterion__max_points"
        )
    )
    if not rows:
        deal_scorecard.delete()
        return None
    deal_scorecard.score = deal_score(rows)
    deal_scorecard.result = deal_result(
        score=deal_scorecard.score, answered=len(rows), criteria=criteria, threshold=scorecard.threshold
    )
    deal_scorecard.updated_at = at
    deal_scorecard.updated_by_id = by.user_id
    deal_scorecard.save(update_fields=["score", "result", "updated_at", "updated_by"])
    return deal_scorecard
