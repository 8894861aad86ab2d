"""Numbers and durations formatted for people: "$12,000", "12 days"."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template
from django.contrib.humanize.templatetags.humanize import intcomma

register = template.Library()

CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "CAD": "CA$", "AUD": "A$"}


@register.filter
def money(amount, currency: str = "") -> str:
    """`12000, "USD"` → "$12,000"; cents only when there are any; unknown codes after the number."""
    if amount in (None, ""):
        return "—"
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        return str(amount)
    whole = value == value.to_integral_value()
    quantized = value.quantize(Decimal("1") if whole else Decimal("0.01"), rounding=ROUND_HALF_UP)
    number = intcomma(f"{quantized:f}")
    code = (currency or "").upper()
    symbol = CURRENCY_SYMBOLS.get(code)
    if symbol:
        return f"-{symbol}{number[1:]}" if number.startswith("-") else f"{symbol}{number}"
    return f"{number} {code}".strip()


@register.filter
def days(n) -> str:
    """`1` → "1 day", `12` → "12 days"."""
    try:
        n = int(n)
    except (TypeError, ValueError):
        return ""
    return f"{n} day" if n == 1 else f"{n} days"
