"""Django admin for the journey: for support, read-only. Value conversations are planned and recorded,
and expansion deals opened, through journey.services (the deal page or the API), which check the
deal's editors and validate every field."""

from django.contrib import admin

from journey.models import DealLink, ValueConfirmation
from salesproc.admin import ReadOnlyAdmin


@admin.register(ValueConfirmation)
class ValueConfirmationAdmin(ReadOnlyAdmin):
    list_display = (
        "deal",
        "stakeholder",
        "planned_for",
        "held_at",
        "metric_name",
        "metric_value",
        "organization",
    )
    list_filter = ("organization",)
    search_fields = ("deal__name", "confirmed_value", "metric_name")
    list_select_related = ("deal", "stakeholder__contact", "organization")


@admin.register(DealLink)
class DealLinkAdmin(ReadOnlyAdmin):
    list_display = ("from_deal", "kind", "to_deal", "created_at", "organization")
    list_filter = ("kind", "organization")
    search_fields = ("from_deal__name", "to_deal__name")
    list_select_related = ("from_deal", "to_deal", "organization")
