"""Query-string filters of the deal, account and contact lists (django-filter).

Bad values are a 400 naming the parameter. No filter runs a query of its own: ids are compared in the
list query, and the account-name search is a subquery of it."""

from django import forms
from django.db.models import Q
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema_field

from deals.models import Account, Contact, Deal, DealStatus
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

    class Meta:
        model = Deal
        fields: list[str] = []

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
