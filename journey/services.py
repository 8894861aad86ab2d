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
MAX_VALUE_TEXT = 5000


def _require_won(deal: Deal) -> None:
    if deal.status != DealStatus.WON:
        raise InvalidInput({"deal": ["Value is confirmed after the win: this deal is not won."]})


@transaction.atomic
def value_plan_create(
    *, deal: Deal, by: Membership, planned_for: date | None = None
) -> list[ValueConfirmation]:
    """Plan one value-confirmation conversation per stakeholder of a won deal; returns the deal's
    conversations. Idempotent: a stakeholder who already has one gets no second (a concurrent plan
    meets the unique constraint and inserts nothing twice)."""
    require_deal_editor(by, deal)
    _require_won(deal)
    stakeholder_ids = list(
        DealStakeholder.objects.filter(deal=deal).order_by("-influence", "id").values_list("id", flat=True)
    )
    if not stakeholder_ids:
        raise InvalidInput(
            {"stakeholder": ["Add the deal's stakeholders first: value is confirmed with each."]}
        )
    when = planned_for or timezone.localdate() + timedelta(days=DEFAULT_PLAN_DAYS)
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
