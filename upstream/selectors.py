"""Reads of the upstream app, each a fixed number of queries whatever the number of rows:
- `promotion_queryset`: promotions with everything their rows show (the review page, the API);
- `review_page`: one page of the review list, its tabs' counts and the forms' choices;
- `step_promotion_states`: what the deal plan says on each custom step ("Proposed for review",
  "Became play X") — one query for the whole plan;
- `play_provenance` / `criteria_provenance`: "Promoted from …" on the play editor and the process editor.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Prefetch, QuerySet

from deals.models import DealStep, StepSource
from orgs.models import Membership
from playbooks.api.common import condition_texts
from playbooks.models import Playbook
from salesproc.models import Stage
from upstream.models import Promotion, PromotionOrigin, PromotionStatus, PromotionStep

REVIEW_PAGE_SIZE = 25
# Steps listed on a recurring promotion's card; the rest are counted ("and 12 more").
STEPS_SHOWN = 8


def promotion_queryset(org) -> QuerySet[Promotion]:
    """The org's promotions with the relations their rows read, and their steps (with deals) in one
    prefetch query."""
    links = PromotionStep.objects.select_related("step__deal").order_by("step__deal__name", "step_id")
    return (
        Promotion.objects.for_org(org)
        .select_related(
            "process",
            "playbook",
            "stage",
            "source_step__deal",
            "proposed_by",
            "decided_by",
            "play__playbook",
            "criterion__stage",
        )
        .prefetch_related(Prefetch("step_links", queryset=links))
    )


def _visible(qs: QuerySet[Promotion], membership: Membership) -> QuerySet[Promotion]:
    """Ops and admins see every promotion of the org; reps and managers the ones they proposed."""
    qs = qs.filter(organization_id=membership.organization_id)
    return qs if membership.can_edit_process else qs.filter(proposed_by_id=membership.user_id)


def visible_promotions(membership: Membership) -> QuerySet[Promotion]:
    """The promotions the member may see (`_visible`), with what their rows show."""
    return _visible(promotion_queryset(membership.organization), membership)


def prepare_rows(promotions: list[Promotion], organization_id: int) -> None:
    """What the rows show beyond their fields: `condition_text`, the condition in words with stages and
    owners named (at most two queries for the whole list; "" for an empty condition), and `links_shown`
    / `links_more`, the first STEPS_SHOWN source steps and how many more (from the prefetch)."""
    with_condition = [p for p in promotions if p.condition]
    texts = condition_texts(with_condition, organization_id)
    for promotion in promotions:
        promotion.condition_text = texts.get(promotion.pk, "") if promotion.condition else ""
        links = list(promotion.step_links.all())
        promotion.links_shown = links[:STEPS_SHOWN]
        promotion.links_more = max(0, len(links) - STEPS_SHOWN)


@dataclass
class ReviewPage:
    promotions: list[Promotion]
    status: str
    origin: str
    counts: dict[str, int]
    next_before: int | None
    playbooks: list[Playbook] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)


def review_page(
    *, membership: Membership, status: str, origin: str = "", before: int | None = None
) -> ReviewPage:
    """One page (newest first, keyset on id) of the promotions the member may see, of one status and
    optionally one origin; the count of each status for the tabs (one grouped query: an org has few
    promotions); and, for reviewers looking at open proposals, the playbooks and stages the accept forms
    offer. Seven queries at most, whatever the number of promotions, steps and deals."""
    qs = visible_promotions(membership)
    counts_qs = (
        _visible(Promotion.objects.all(), membership).values("status").annotate(n=Count("id")).order_by()
    )
    if origin:
        qs = qs.filter(origin=origin)
        counts_qs = counts_qs.filter(origin=origin)
    counts = dict.fromkeys(PromotionStatus.values, 0)
    counts.update({row["status"]: row["n"] for row in counts_qs})
    page_qs = qs.filter(status=status).order_by("-id")
    if before:
        page_qs = page_qs.filter(id__lt=before)
    rows = list(page_qs[: REVIEW_PAGE_SIZE + 1])
    more = len(rows) > REVIEW_PAGE_SIZE
    rows = rows[:REVIEW_PAGE_SIZE]
    prepare_rows(rows, membership.organization_id)
    page = ReviewPage(
        promotions=rows,
        status=status,
        origin=origin,
        counts=counts,
        next_before=rows[-1].pk if more else None,
    )
    if membership.can_edit_process and status == PromotionStatus.PROPOSED and rows:
        choices = review_choices(membership)
        page.playbooks, page.stages = choices["playbooks"], choices["stages"]
    return page


def review_choices(membership: Membership) -> dict[str, list]:
    """What the accept form offers: the org's playbooks (with their process) and the stages of its
    active processes. Two queries."""
    org = membership.organization
    return {
        "playbooks": list(Playbook.objects.for_org(org).select_related("process").order_by("name", "id")),
        "stages": list(
            Stage.objects.for_org(org)
            .filter(process__is_active=True)
            .select_related("process")
            .order_by("process__name", "order")
        ),
    }


@dataclass(frozen=True)
class StepPromotionState:
    """What a custom step of a plan says about being sent upstream."""

    promotion: Promotion

    @property
    def status(self) -> str:
        return self.promotion.status

    @property
    def is_open(self) -> bool:
        return self.promotion.status == PromotionStatus.PROPOSED

    @property
    def may_propose_again(self) -> bool:
        """Only a dismissed proposal leaves the step free to be proposed again."""
        return self.promotion.status == PromotionStatus.DISMISSED


# Which promotion a step shows when several name it: what it became beats what is asked beats a no.
_RANK = {PromotionStatus.ACCEPTED: 0, PromotionStatus.PROPOSED: 1, PromotionStatus.DISMISSED: 2}


def step_promotion_states(steps: list[DealStep]) -> dict[int, StepPromotionState]:
    """For each custom step of `steps` that a promotion names, the promotion it shows (accepted, else
    proposed, else the latest dismissed), with its play or criterion. One query for the whole plan; none
    when the plan has no custom step."""
    ids = [s.id for s in steps if s.source == StepSource.CUSTOM]
    if not ids:
        return {}
    links = PromotionStep.objects.filter(step_id__in=ids).select_related(
        "promotion__play", "promotion__criterion__stage"
    )
    best: dict[int, Promotion] = {}
    for link in links:
        promotion, current = link.promotion, best.get(link.step_id)
        if current is None or (_RANK[promotion.status], -promotion.pk) < (_RANK[current.status], -current.pk):
            best[link.step_id] = promotion
    return {step_id: StepPromotionState(p) for step_id, p in best.items()}


def _provenance_rows(qs: QuerySet[Promotion]) -> list[Promotion]:
    return list(
        qs.filter(status=PromotionStatus.ACCEPTED)
        .select_related("source_step__deal")
        .annotate(deal_count=Count("step_links__step__deal", distinct=True))
        .order_by("-decided_at", "-id")
    )


def play_provenance(play) -> list[Promotion]:
    """The accepted promotions that became this play (usually one), each with `deal_count` and its
    source step and deal. One query."""
    return _provenance_rows(Promotion.objects.filter(play_id=play.pk, organization_id=play.organization_id))


def criteria_provenance(*, process) -> dict[int, Promotion]:
    """For each exit criterion of the process that an accepted promotion became, that promotion (with
    `deal_count` and its source step and deal). One query for the whole process page, criteria or not."""
    rows = _provenance_rows(
        Promotion.objects.filter(
            organization_id=process.organization_id, criterion__stage__process_id=process.pk
        )
    )
    out: dict[int, Promotion] = {}
    for promotion in rows:
        out.setdefault(promotion.criterion_id, promotion)
    return out


def origin_choices() -> list[tuple[str, str]]:
    return [("", "All origins"), *PromotionOrigin.choices]


def status_filter(value: str | None) -> str:
    return value if value in PromotionStatus.values else PromotionStatus.PROPOSED


def origin_filter(value: str | None) -> str:
    return value if value in PromotionOrigin.values else ""
