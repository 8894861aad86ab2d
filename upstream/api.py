"""Promotions over the API: the list (`?status=`, `?origin=`, cursor pages, newest first) and one
promotion; promoting a custom step of a deal's plan; accepting (a play or an exit criterion) and
dismissing.

Every id is looked up in the caller's organization before the method is dispatched, so another
organization's id is a 404 whatever the method. Reading: ops and admins see every promotion, reps and
managers the ones they proposed (others are a 404). Writes go through upstream.services: bad input is a
400 naming the field (a bad condition: each problem with its path, under "condition"), a role that may
not write a 403 (proposing: the deal's editors and ops; accepting and dismissing: ops and admins)."""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.common import DealScopedMixin
from deals.api.serializers import ErrorSerializer, RefSerializer, UserRefSerializer
from deals.models import DealStep
from salesproc.lib.api_pagination import IdCursorPagination
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import Importance
from upstream.models import Promotion, PromotionOrigin, PromotionStatus, PromotionTarget
from upstream.selectors import prepare_rows, promotion_queryset, visible_promotions
from upstream.services import (
    MAX_NOTE,
    MAX_REASON,
    promotion_accept,
    promotion_dismiss,
    promotion_propose_from_step,
)

NOT_ALLOWED = OpenApiResponse(ErrorSerializer, description="Your role may not do this")
CONDITION_HELP = (
    'Trigger condition of the play: {"all": [...]}, {"any": [...]}, {"not": {...}} or {"field", "op", '
    '"value"} (docs/playbooks.md). Stored normalized.'
)
EVIDENCE_HELP = (
    'Origin step: {"deal_facts": {industry, competitors, objections, stage, process, stakeholder_roles}, '
    '"note"}. Origin recurrence: deals, steps, titles, outcomes, win_rate(_ci), baseline, difference(_ci), '
    "p_value, small_sample, shared_facts, stage (docs/upstream.md)."
)


class PromotionSourceStepSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="step_id")
    title = serializers.CharField(source="step.title")
    deal = RefSerializer(source="step.deal")


class PromotionCriterionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    stage = serializers.IntegerField(source="stage_id")


class PromotionOutputSerializer(serializers.Serializer):
    """A promotion. `condition_text` and `steps` come from `prepare_rows` (a batch a page)."""

    id = serializers.IntegerField()
    origin = serializers.ChoiceField(choices=PromotionOrigin.choices)
    target = serializers.ChoiceField(choices=PromotionTarget.choices)
    status = serializers.ChoiceField(choices=PromotionStatus.choices)
    title = serializers.CharField()
    description = serializers.CharField()
    process = serializers.IntegerField(source="process_id", allow_null=True)
    condition = serializers.JSONField(help_text=CONDITION_HELP)
    condition_text = serializers.CharField(help_text="The condition in words, stages and owners by name")
    playbook = serializers.IntegerField(source="playbook_id", allow_null=True)
    stage = serializers.IntegerField(source="stage_id", allow_null=True)
    importance = serializers.ChoiceField(choices=Importance.choices)
    source_step = serializers.IntegerField(source="source_step_id", allow_null=True)
    steps = PromotionSourceStepSerializer(
        source="links_shown", many=True, help_text="The first steps it came from"
    )
    more_steps = serializers.IntegerField(source="links_more", help_text="How many more steps it came from")
    evidence = serializers.JSONField(help_text=EVIDENCE_HELP)
    signature = serializers.CharField()
    proposed_by = UserRefSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    decided_by = UserRefSerializer(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    dismiss_reason = serializers.CharField()
    play = RefSerializer(allow_null=True, help_text="The play it became, once accepted as a play")
    criterion = PromotionCriterionSerializer(allow_null=True, help_text="The exit criterion it became")


def promotion_body(promotion: Promotion) -> dict:
    prepare_rows([promotion], promotion.organization_id)
    return PromotionOutputSerializer(promotion).data


class PromotionFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=PromotionStatus.choices, required=False)
    origin = serializers.ChoiceField(choices=PromotionOrigin.choices, required=False)


class StepPromoteInputSerializer(serializers.Serializer):
    target = serializers.ChoiceField(choices=PromotionTarget.choices, default=PromotionTarget.PLAY)
    note = serializers.CharField(max_length=MAX_NOTE, required=False, allow_blank=True, default="")


class PromotionAcceptInputSerializer(serializers.Serializer):
    """Each field left out keeps what the promotion proposes."""

    target = serializers.ChoiceField(choices=PromotionTarget.choices, required=False)
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    playbook = serializers.IntegerField(required=False, min_value=1, help_text="Target play: the playbook")
    condition = serializers.JSONField(required=False, help_text=CONDITION_HELP)
    stage = serializers.IntegerField(required=False, min_value=1, help_text="Target criterion: the stage")
    importance = serializers.ChoiceField(choices=Importance.choices, required=False)


class PromotionDismissInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=MAX_REASON)


class PromotionPagination(IdCursorPagination):
    """Newest first."""


@extend_schema(tags=["upstream"])
class PromotionListApi(generics.ListAPIView):
    """The promotions you may see (ops, admins: all; others: those they proposed), newest first."""

    serializer_class = PromotionOutputSerializer
    pagination_class = PromotionPagination

    def get_queryset(self):
        filters = PromotionFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return visible_promotions(self.request.membership).filter(**filters.validated_data)

    @extend_schema(
        parameters=[PromotionFilterSerializer],
        responses={200: PromotionOutputSerializer(many=True), 400: OpenApiResponse(description="Bad filter")},
    )
    def get(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        prepare_rows(page, request_org(request).id)
        return self.get_paginated_response(PromotionOutputSerializer(page, many=True).data)


class PromotionScopedApi(ScopedObjectMixin, APIView):
    """Loads `self.promotion`: reads see what the member may see; decisions load any promotion of the
    org, so a rep's accept is a 403 (the service's rule) rather than a 404."""

    scoped_attr = "promotion"
    scoped_url_kwarg = "promotion_id"

    def get_scoped_queryset(self):
        if self.request.method in ("GET", "HEAD", "OPTIONS"):
            return visible_promotions(self.request.membership)
        return promotion_queryset(request_org(self.request))

    def reloaded_body(self) -> dict:
        return promotion_body(promotion_queryset(request_org(self.request)).get(pk=self.promotion.pk))


@extend_schema(tags=["upstream"])
class PromotionDetailApi(PromotionScopedApi):
    @extend_schema(responses=PromotionOutputSerializer)
    def get(self, request, promotion_id: int):
        return Response(promotion_body(self.promotion))


@extend_schema(tags=["upstream"])
class PromotionAcceptApi(PromotionScopedApi):
    @extend_schema(
        request=PromotionAcceptInputSerializer,
        responses={
            200: PromotionOutputSerializer,
            400: OpenApiResponse(description="Invalid input, or already decided: the fields named"),
            403: NOT_ALLOWED,
        },
        description="Accept (ops, admins), with edits. Target play: a new active play in `playbook` "
        "with the condition and one step, attached to the matching open deals in the background. Target "
        "criterion: an exit criterion (a step) of `stage`, recorded as a new process version.",
    )
    def post(self, request, promotion_id: int):
        data = PromotionAcceptInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        promotion_accept(promotion=self.promotion, by=request.membership, **data.validated_data)
        return Response(self.reloaded_body())


@extend_schema(tags=["upstream"])
class PromotionDismissApi(PromotionScopedApi):
    @extend_schema(
        request=PromotionDismissInputSerializer,
        responses={
            200: PromotionOutputSerializer,
            400: OpenApiResponse(description="No reason"),
            403: NOT_ALLOWED,
        },
        description="Dismiss (ops, admins) with a reason.",
    )
    def post(self, request, promotion_id: int):
        data = PromotionDismissInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        promotion_dismiss(
            promotion=self.promotion, by=request.membership, reason=data.validated_data["reason"]
        )
        return Response(self.reloaded_body())


@extend_schema(tags=["upstream"])
class StepPromoteApi(DealScopedMixin, APIView):
    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.step = get_for_org_or_404(
            DealStep.objects.filter(deal=self.deal), request_org(request), pk=kwargs["step_id"]
        )
        self.step.deal = self.deal

    @extend_schema(
        request=StepPromoteInputSerializer,
        responses={
            201: PromotionOutputSerializer,
            200: OpenApiResponse(
                PromotionOutputSerializer, description="The step's open proposal, unchanged"
            ),
            400: OpenApiResponse(description="Not a custom step, or bad input"),
            403: NOT_ALLOWED,
        },
        description="Propose a custom step of the plan as a play or as an exit criterion of the deal's "
        "stage (the deal's editors, ops). A step with an open proposal answers it with 200.",
    )
    def post(self, request, deal_id: int, step_id: int):
        data = StepPromoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        promotion, created = promotion_propose_from_step(
            step=self.step, by=request.membership, **data.validated_data
        )
        body = promotion_body(promotion_queryset(request_org(request)).get(pk=promotion.pk))
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


urlpatterns = [
    path("promotions/", PromotionListApi.as_view(), name="promotion_list"),
    path("promotions/<int:promotion_id>/", PromotionDetailApi.as_view(), name="promotion_detail"),
    path("promotions/<int:promotion_id>/accept/", PromotionAcceptApi.as_view(), name="promotion_accept"),
    path("promotions/<int:promotion_id>/dismiss/", PromotionDismissApi.as_view(), name="promotion_dismiss"),
    path("deals/<int:deal_id>/steps/<int:step_id>/promote/", StepPromoteApi.as_view(), name="step_promote"),
]
