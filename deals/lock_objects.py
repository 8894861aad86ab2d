"""Row locks for deals, always taken in one order (by id) so concurrent writers never deadlock."""

from deals.models import Deal


def deal_for_update(deal_id: int) -> Deal:
    return Deal.objects.select_for_update().get(pk=deal_id)


def deals_for_update(deal_ids) -> list[Deal]:
    return list(Deal.objects.select_for_update().filter(pk__in=sorted(set(deal_ids))).order_by("pk"))
