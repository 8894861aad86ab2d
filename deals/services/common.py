"""Helpers shared by the deal services: permission checks and input cleaning."""

from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from orgs.models import Membership
from orgs.selectors import can_edit_deal
from salesproc.lib.errors import InvalidInput, NotAllowed


def require_deal_editor(by: Membership, deal) -> None:
    if not can_edit_deal(by, deal):
        raise NotAllowed("You can read this deal but not change it: it belongs to another rep.")


def require_same_org(by: Membership, obj) -> None:
    if obj is not None and obj.organization_id != by.organization_id:
        # Never confirm that another org's object exists.
        raise InvalidInput({"__all__": ["Not found."]})


def clean_decimal(
    value, field: str, errors: dict, *, required: bool = False, minimum: Decimal = Decimal("0")
):
    if value in (None, ""):
        if required:
            errors[field] = ["Required."]
        return None
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        errors[field] = [f'"{value}" is not a number.']
        return None
    if not d.is_finite():
        errors[field] = ["Must be a finite number."]
        return None
    if d < minimum:
        errors[field] = [f"Must be at least {minimum}."]
        return None
    if d >= Decimal("1e12"):
        errors[field] = ["Too large."]
        return None
    return d.quantize(Decimal("0.01"))


def clean_date(value, field: str, errors: dict):
    if value in (None, ""):
        return None
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        errors[field] = [f'"{value}" is not a date (use YYYY-MM-DD).']
        return None


def clean_text(value, field: str, errors: dict, *, max_length: int, required: bool = False) -> str:
    text = (value or "").strip() if isinstance(value, str) or value is None else str(value).strip()
    if required and not text:
        errors[field] = ["Required."]
    elif len(text) > max_length:
        errors[field] = [f"At most {max_length} characters."]
    return text


def clean_list(values, field: str, errors: dict) -> list[str]:
    """Competitors/objections: a list of strings, or one string separated by ';' or ','."""
    if values is None:
        return []
    if isinstance(values, str):
        sep = ";" if ";" in values else ","
        values = values.split(sep)
    if not isinstance(values, list | tuple):
        errors[field] = ["Expected a list of names."]
        return []
    out: list[str] = []
    for v in values:
        if not isinstance(v, str):
            errors[field] = ["Expected a list of names."]
            return []
        v = v.strip()
        if len(v) > 120:
            errors[field] = ["Each name is at most 120 characters."]
            return []
        if v and v.lower() not in {o.lower() for o in out}:
            out.append(v)
    if len(out) > 30:
        errors[field] = ["At most 30 entries."]
    return out


def raise_if(errors: dict) -> None:
    if errors:
        raise InvalidInput(errors)
