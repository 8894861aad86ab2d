"""A deal's answers to the questions of the plays attached to it: written by whoever may edit the deal."""

from django.db import transaction
from django.utils import timezone

from deals.models import Deal
from deals.services.common import clean_text, raise_if, require_deal_editor
from orgs.models import Membership
from playbooks.models import DealPlay, PlayAnswer, PlayQuestion
from salesproc.lib.errors import InvalidInput


@transaction.atomic
def play_answer_set(*, deal: Deal, question: PlayQuestion, text: str, by: Membership) -> PlayAnswer | None:
    """Record (or clear, with empty text) the deal's answer to a question of a play attached to the deal
    now. The rep who owns the deal, their manager, or an admin."""
    require_deal_editor(by, deal)
    if question.organization_id != deal.organization_id:
        raise InvalidInput({"question": ["Unknown question."]})
    if not DealPlay.objects.filter(deal=deal, play_id=question.play_id, detached_at__isnull=True).exists():
        raise InvalidInput(
            {"question": ["This question belongs to a play that is not attached to this deal."]}
        )
    errors: dict = {}
    text = clean_text(text, "text", errors, max_length=5000)
    raise_if(errors)
    if not text:
        PlayAnswer.objects.filter(deal=deal, question=question).delete()
        return None
    answer, _ = PlayAnswer.objects.update_or_create(
        deal=deal,
        question=question,
        defaults={
            "organization_id": deal.organization_id,
            "text": text,
            "answered_by_id": by.user_id,
            "answered_at": timezone.now(),
        },
    )
    return answer
