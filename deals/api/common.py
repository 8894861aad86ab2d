"""Deal querysets of the API and the mixin that loads the deal named in a URL."""

from django.db.models import Prefetch, QuerySet

from deals.models import Deal, DealTag
from orgs.models import Organization
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org

# Exactly what DealListOutputSerializer reads; anything else would be a query per row.
DEAL_LIST_FIELDS = (
    "id",
    "name",
    "amount",
    "currency",
    "status",
    "version",
    "process",
    "expected_close",
    "stage_entered_at",
    "last_activity_at",
    "closed_at",
    "created_at",
    "updated_at",
    "account",
    "account__id",
    "account__name",
    "owner",
    "owner__id",
    "owner__full_name",
    "owner__email",
    "stage",
    "stage__id",
    "stage__name",
)


def _tags_prefetch() -> Prefetch:
    # One query for the competitors and objections of a whole page of deals.
    return Prefetch(
        "tags",
        queryset=DealTag.objects.only("id", "deal", "kind", "value").order_by("kind", "value"),
        to_attr="prefetched_tags",
    )


def deal_list_queryset(org: Organization) -> QuerySet[Deal]:
    """The org's deals for a list page: one query for the rows (with account, owner and stage) and one
    for their tags, however many deals the page holds."""
    return (
        Deal.objects.for_org(org)
        .select_related("account", "owner", "stage")
        .only(*DEAL_LIST_FIELDS)
        .prefetch_related(_tags_prefetch())
    )


def deal_detail_queryset(org: Organization) -> QuerySet[Deal]:
    """The org's deals with everything DealDetailOutputSerializer shows."""
    return (
        Deal.objects.for_org(org)
        .select_related("account", "owner", "stage")
        .prefetch_related(_tags_prefetch())
    )


class DealScopedMixin(ScopedObjectMixin):
    """Loads `self.deal` (the row alone: what the services need) from the `deal_id` in the URL;
    another org's deal is a 404 for every method."""

    scoped_attr = "deal"
    scoped_url_kwarg = "deal_id"

    def get_scoped_queryset(self):
        return Deal.objects.for_org(request_org(self.request))

    def reloaded_deal(self) -> Deal:
        """The deal as stored now, after a service wrote it."""
        return deal_detail_queryset(request_org(self.request)).get(pk=self.deal.pk)
