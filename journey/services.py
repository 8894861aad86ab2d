"""Writes of the journey: the value plan of a won deal, recording a held conversation, and opening an
expansion deal from one. Every write is the deal's editors' (its owner, their manager, admins) and
writes nothing on bad input."""

from datetime import date, timedelta
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from deals.models import Deal, DealStakeholder, DealStatus
from deals.services import deal_create
from deals.services.common import clean_date, clean_decimal, clean_text, raise_if, require_deal_editor
from journey.models import DealLink, DealLinkKind, ValueConfirmation
from orgs.models import Membership
from salesproc.lib.errors import InvalidInput
from salesproc.models import Process

# A value conversation is planned a month out by default: long enough for the customer to see results.
DEFAULT_PLAN_DAYS = 30
# A follow-up conversation, a quarter after the last one (a quarterly business review).
DEFAULT_FOLLOWUP_DAYS = 90
MAX_VALUE_TEXT = 5000


def _require_won(deal: Deal) -> None:
    if deal.status != DealStatus.WON:
        raise InvalidInput({"deal": ["Value is confirmed after the win: this deal is not won."]})


@transaction.atomic
def value_plan_create(
    *, deal: Deal, by: Membership, planned_for: date | str | None = None
) -> list[ValueConfirmation]:
    """Plan one value-confirmation conversation per stakeholder of a won deal; returns the deal's
    conversations. Idempotent: a stakeholder who already has a conversation (planned or held) gets
    none here — follow-ups are planned one by one with value_followup_plan — and a concurrent plan
    meets the one-planned-per-stakeholder constraint and inserts nothing twice."""
    require_deal_editor(by, deal)
    _require_won(deal)
    stakeholder_ids = list(
        DealStakeholder.objects.filter(deal=deal).order_by("-influence", "id").values_list("id", flat=True)
    )
    if not stakeholder_ids:
        raise InvalidInput(
            {"stakeholder": ["Add the deal's stakeholders first: value is confirmed with each."]}
        )
    when = _clean_planned_for(planned_for, default_days=DEFAULT_PLAN_DAYS)
    having = set(ValueConfirmation.objects.filter(deal=deal).values_list("stakeholder_id", flat=True))
    stakeholder_ids = [sid for sid in stakeholder_ids if sid not in having]
    now = timezone.now()
    ValueConfirmation.objects.bulk_create(
        [
            ValueConfirmation(
                organization_id=deal.organization_id,
                deal_id=deal.id,
                stakeholder_id=sid,
                planned_for=when,
                created_by_id=by.user_id,
                created_at=now,
            )
            for sid in stakeholder_ids
        ],
        ignore_conflicts=True,
    )
    return list(ValueConfirmation.objects.filter(deal=deal).select_related("stakeholder__contact"))


def _clean_planned_for(value, *, default_days: int) -> date:
    """The date a conversation is planned for: today or later; `default_days` from today if empty."""
    errors: dict[str, list[str]] = {}
    when = clean_date(value, "planned_for", errors)
    if when is not None and when < timezone.localdate():
        errors["planned_for"] = ["Plan the conversation for today or a later day."]
    raise_if(errors)
    return when or timezone.localdate() + timedelta(days=default_days)


@transaction.atomic
def value_followup_plan(
    *, deal: Deal, stakeholder: DealStakeholder, by: Membership, planned_for: date | str | None = None
) -> ValueConfirmation:
    """Plan the next value conversation with one stakeholder of a won deal (by default a quarter
    out). Refused while a conversation with them is still to hold: record or reschedule that one."""
    require_deal_editor(by, deal)
    _require_won(deal)
    if stakeholder.deal_id != deal.id:
        raise InvalidInput({"stakeholder": ["That person is not a stakeholder on this deal."]})
    when = _clean_planned_for(planned_for, default_days=DEFAULT_FOLLOWUP_DAYS)
    pending = ValueConfirmation.objects.filter(stakeholder=stakeholder, held_at__isnull=True).first()
    if pending is not None:
        raise InvalidInput(
            {
                "stakeholder": [
                    f"A conversation with {stakeholder.contact.name} is already planned for "
                    f"{pending.planned_for:%b %-d, %Y}: record it or reschedule it."
                ]
            }
        )
    try:
        with transaction.atomic():
            return ValueConfirmation.objects.create(
                organization_id=deal.organization_id,
                deal_id=deal.id,
                stakeholder=stakeholder,
                planned_for=when,
                created_by_id=by.user_id,
            )
    except IntegrityError:  # planned concurrently
        raise InvalidInput(
            {"stakeholder": [f"A conversation with {stakeholder.contact.name} is already planned."]}
        ) from None


@transaction.atomic
def value_confirmation_reschedule(
    *, confirmation: ValueConfirmation, by: Membership, planned_for: date | str | None
) -> ValueConfirmation:
    """Move a conversation still to hold to another day (today or later)."""
    deal = Deal.objects.get(pk=confirmation.deal_id)
    require_deal_editor(by, deal)
    _require_won(deal)
    errors: dict[str, list[str]] = {}
    if planned_for in (None, ""):
        errors["planned_for"] = ["Say which day the conversation is planned for."]
    raise_if(errors)
    when = _clean_planned_for(planned_for, default_days=0)
    locked = ValueConfirmation.objects.select_for_update().get(pk=confirmation.pk)
    if locked.is_held:
        raise InvalidInput({"planned_for": ["This conversation was held: it cannot be rescheduled."]})
    locked.planned_for = when
    locked.save(update_fields=["planned_for"])
    confirmation.planned_for = when
    return locked


def _clean_record(data: dict) -> dict:
    errors: dict[str, list[str]] = {}
    out: dict = {}
    held_at = clean_date(data.get("held_at"), "held_at", errors)
    if held_at is None and "held_at" not in errors:
        errors["held_at"] = ["Say when the conversation was held."]
    elif held_at is not None and held_at > timezone.localdate():
        errors["held_at"] = ["A held conversation cannot be in the future."]
    out["held_at"] = held_at
    out["confirmed_value"] = clean_text(
        data.get("confirmed_value"), "confirmed_value", errors, max_length=MAX_VALUE_TEXT, required=True
    )
    if errors.get("confirmed_value") == ["Required."]:
        errors["confirmed_value"] = ["Write the value they confirm, in their own words and metrics."]
    out["metric_name"] = clean_text(data.get("metric_name"), "metric_name", errors, max_length=120)
    out["metric_value"] = clean_decimal(
        data.get("metric_value"), "metric_value", errors, minimum=Decimal("-1e12")
    )
    if out["metric_value"] is not None and not out["metric_name"] and "metric_name" not in errors:
        errors["metric_name"] = ["Name the metric this value measures."]
    out["next_opportunity"] = clean_text(
        data.get("next_opportunity"), "next_opportunity", errors, max_length=MAX_VALUE_TEXT
    )
    raise_if(errors)
    return out


@transaction.atomic
def value_confirmation_record(
    *,
    confirmation: ValueConfirmation,
    by: Membership,
    held_at: date | str | None,
    confirmed_value: str | None,
    metric_name: str | None = "",
    metric_value: Decimal | str | None = None,
    next_opportunity: str | None = "",
) -> ValueConfirmation:
    """Record a held conversation (or correct a recorded one): when, the value confirmed, its metric,
    the next opportunity. All fields are validated before anything is written."""
    deal = Deal.objects.get(pk=confirmation.deal_id)
    require_deal_editor(by, deal)
    _require_won(deal)
    fields = _clean_record(
        {
            "held_at": held_at,
            "confirmed_value": confirmed_value,
            "metric_name": metric_name,
            "metric_value": metric_value,
            "next_opportunity": next_opportunity,
        }
    )
    locked = ValueConfirmation.objects.select_for_update().get(pk=confirmation.pk)
    for key, value in fields.items():
        setattr(locked, key, value)
    locked.save(update_fields=list(fields))
    confirmation.__dict__.update({k: getattr(locked, k) for k in fields})
    return locked


def _expansion_name(confirmation: ValueConfirmation, deal: Deal) -> str:
    first_line = (confirmation.next_opportunity or "").strip().splitlines()
    name = first_line[0].strip() if first_line else ""
    if not name:
        name = f"Expansion of {deal.name}"
    return name[:200]


@transaction.atomic
def expansion_deal_create(
    *, confirmation: ValueConfirmation, by: Membership, process: Process | None, name: str | None = None
) -> Deal:
    """Open a new deal on the same account from a held conversation's next opportunity, in `process`
    (of the caller's org), and link it to the original deal as its expansion. One per conversation."""
    deal = Deal.objects.select_related("account").get(pk=confirmation.deal_id)
    require_deal_editor(by, deal)
    locked = ValueConfirmation.objects.select_for_update().get(pk=confirmation.pk)
    errors: dict[str, list[str]] = {}
    if process is None or process.organization_id != by.organization_id:
        errors["process"] = ["Choose a process of your organization."]
    if not locked.is_held:
        errors["confirmation"] = [
            "Record the conversation first: the expansion grows from what they confirmed."
        ]
    elif DealLink.objects.filter(confirmation=locked).exists():
        errors["confirmation"] = ["An expansion deal was already opened from this conversation."]
    raise_if(errors)
    new = deal_create(
        by=by,
        process=process,
        name=(name or "").strip() or _expansion_name(locked, deal),
        account=deal.account,
        description=locked.next_opportunity,
    )
    try:
        with transaction.atomic():
            DealLink.objects.create(
                organization_id=deal.organization_id,
                from_deal=deal,
                to_deal=new,
                kind=DealLinkKind.EXPANSION,
                confirmation=locked,
                created_by_id=by.user_id,
            )
    except IntegrityError:
        raise InvalidInput(
            {"confirmation": ["An expansion deal was already opened from this conversation."]}
        ) from None
    return new
