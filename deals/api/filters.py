"""Query-string filters of the deal, account and contact lists (django-filter).

Bad values are a 400 naming the parameter. No filter runs a query of its own: ids are compared in the
list query, and the account-name search is a subquery of it."""

from django import forms
from django.db.models import Q
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field

from deals.forms import GapCodesField
from deals.models import Account, Contact, Deal, DealStatus
from deals.network import ANY_GAP, GAP_CODES, deal_gaps_condition
from deals.selectors import deal_search


class OwnerField(forms.CharField):
    """`me` or a user id."""

    def clean(self, value):
        value = super().clean(value)
        if value in ("", None):
            return None
        if value == "me":
            return value
        if value.isdigit():
            return int(value)
        raise forms.ValidationError('Use "me" or a user id.')


@extend_schema_field(OpenApiTypes.STR)
class OwnerFilter(filters.Filter):
    field_class = OwnerField


@extend_schema_field({"type": "array", "items": {"type": "string", "enum": [*GAP_CODES, ANY_GAP]}})
class GapFilter(filters.Filter):
    """Stakeholder gaps (deals.network): repeated or a comma list; deals with any of them match."""

    field_class = GapCodesField


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(filters.NumberFilter):
    """A whole-number id (NumberFilter alone would accept 1.5)."""

    field_class = forms.IntegerField


class DealFilter(filters.FilterSet):
    # Descriptions of process, stage and owner: DEAL_LIST_PARAMETERS (typed filters drop help_text).
    process = IdFilter(field_name="process_id")
    stage = IdFilter(field_name="stage_id")
    owner = OwnerFilter(method="filter_owner")
    status = filters.ChoiceFilter(choices=DealStatus.choices)
    search = filters.CharFilter(method="filter_search", help_text="Part of the deal's or account's name")
    gap = GapFilter(method="filter_gap")

    class Meta:
        model = Deal
        fields: list[str] = []

    def filter_gap(self, queryset, name, value):
        # Subqueries of the list query (EXISTS / a grouped count per deal): no query of its own.
        return queryset.filter(deal_gaps_condition(value))

    def filter_owner(self, queryset, name, value):
        return queryset.filter(owner_id=self.request.user.id if value == "me" else value)

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # The board's search: the account name through a subquery, both halves index conditions.
        return queryset.filter(deal_search(self.request.membership.organization, value))


DEAL_LIST_PARAMETERS = [
    OpenApiParameter("process", OpenApiTypes.INT, description="Process id"),
    OpenApiParameter("stage", OpenApiTypes.INT, description="Stage id"),
    OpenApiParameter("owner", OpenApiTypes.STR, description='Owner: a user id, or "me"'),
    OpenApiParameter(
        "gap",
        OpenApiTypes.STR,
        many=True,
        explode=True,
        enum=[*GAP_CODES, ANY_GAP],
        description="Deals with a stakeholder gap: a code, repeated (gap=a&gap=b) or as a comma list "
        '(gap=a,b), for deals with any of them; "any" for deals with at least one gap. An unknown code '
        "is a 400 naming the valid ones.",
    ),
]
CONTACT_LIST_PARAMETERS = [
    OpenApiParameter("account", OpenApiTypes.INT, description="Only this account's contacts (account id)"),
]


class AccountFilter(filters.FilterSet):
    search = filters.CharFilter(field_name="name", lookup_expr="icontains", help_text="Part of the name")

    class Meta:
        model = Account
        fields: list[str] = []


class ContactFilter(filters.FilterSet):
    account = IdFilter(field_name="account_id")
    search = filters.CharFilter(method="filter_search", help_text="Part of the name or email")

    class Meta:
        model = Contact
        fields: list[str] = []

    def filter_search(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(name__icontains=value) | Q(email__icontains=value))
