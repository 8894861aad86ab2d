"""Row locks for strategies. One strategy row per save; nothing here locks a deal, so a strategy save
never waits for (or blocks) a stage move."""

from strategy.models import DealStrategy


def strategy_for_update(deal_id: int) -> DealStrategy | None:
    """The deal's strategy row, locked until the transaction ends; None when it has none yet."""
    return DealStrategy.objects.select_for_update().filter(deal_id=deal_id).first()
