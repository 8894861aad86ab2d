"""Qualification scorecards over the API: a process's scorecard and its criteria (ops write, every member
reads), a deal's answers (its editors write), and the win rate by score band (managers, ops, admins).

Every id is looked up in the caller's organization before the method is dispatched, so another
organization's id is a 404 whatever the method. Writes go through scorecards.services, whose messages
name the field (`weight`, `answers.0.value`, …)."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.common import DealScopedMixin
from deals.api.serializers import ErrorSerializer, UserRefSerializer
from deals.models import Deal
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org
from salesproc.models import Process
from scorecards.analytics import DEFAULT_BANDS, win_rate_by_scorecard_band
from scorecards.models import MAX_POINTS, MAX_WEIGHT, AnswerScale, ScorecardCriterion, ScorecardResult
from scorecards.selectors import deal_scorecard_view, process_scorecard, scorecard_criteria
from scorecards.services import (
    AnswerInput,
    deal_scorecard_answers_set,
    require_scorecard_editor,
    scorecard_create,
    scorecard_criterion_add,
    scorecard_criterion_delete,
    scorecard_criterion_reorder,
    scorecard_criterion_update,
    scorecard_update,
)

NOT_ALLOWED = OpenApiResponse(ErrorSerializer, description="Your role may not do this")
NO_SCORECARD = "This process has no qualification scorecard."


def _whole(minimum: int, maximum: int, **kwargs) -> serializers.IntegerField:
    message = f"A whole number from {minimum} to {maximum}."
    return serializers.IntegerField(
        min_value=minimum,
        max_value=maximum,
        error_messages={"invalid": message, "min_value": message, "max_value": message},
        **kwargs,
    )


# ---------------------------------------------------------------------------------------------------
# Serializers


class ScorecardCriterionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    help_text = serializers.CharField()
    weight = serializers.IntegerField(help_text="1 to 10")
    order = serializers.IntegerField()
    scale = serializers.ChoiceField(choices=AnswerScale.choices)
    max_points = serializers.IntegerField(
        help_text="An answer is a whole number from 0 to this (yes / no: 1)"
    )


class ScorecardCriterionInputSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=200, required=False)
    help_text = serializers.CharField(max_length=2000, required=False, allow_blank=True)
    weight = _whole(1, MAX_WEIGHT, required=False)
    scale = serializers.ChoiceField(choices=AnswerScale.choices, required=False)
    max_points = _whole(1, MAX_POINTS, required=False, allow_null=True, help_text="2 to 10 on a points scale")


class ScorecardCriterionCreateInputSerializer(ScorecardCriterionInputSerializer):
    label = serializers.CharField(max_length=200)


class ScorecardCriteriaOrderInputSerializer(serializers.Serializer):
    criterion_ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)


class ScorecardOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    process = serializers.IntegerField(source="process_id")
    name = serializers.CharField()
    threshold = serializers.IntegerField(help_text="Go at or above this score (0 to 100)")
    active = serializers.BooleanField(help_text="Whether deal pages ask it")
    criteria = ScorecardCriterionOutputSerializer(many=True, source="criteria_list")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ScorecardInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    threshold = _whole(0, 100, required=False)
    active = serializers.BooleanField(required=False)


class ScorecardAnswerOutputSerializer(serializers.Serializer):
    value = serializers.IntegerField()
    note = serializers.CharField()
    by = UserRefSerializer(allow_null=True)
    at = serializers.DateTimeField()


class DealScorecardCriterionOutputSerializer(ScorecardCriterionOutputSerializer):
    answer = ScorecardAnswerOutputSerializer(allow_null=True)


class DealScorecardOutputSerializer(serializers.Serializer):
    deal = serializers.IntegerField()
    scorecard = serializers.IntegerField()
    threshold = serializers.IntegerField()
    score = serializers.DecimalField(
        max_digits=5, decimal_places=2, allow_null=True, help_text="None: not scored"
    )
    result = serializers.ChoiceField(
        choices=[*ScorecardResult.choices, ("not_scored", "Not scored")],
        help_text="go, no_go, incomplete (not every criterion answered) or not_scored (no answer)",
    )
    answered = serializers.IntegerField()
    criteria = DealScorecardCriterionOutputSerializer(many=True)


class ScorecardAnswerInputSerializer(serializers.Serializer):
    criterion = serializers.IntegerField(help_text="A criterion id of the deal's scorecard")
    value = serializers.JSONField(
        allow_null=True,
        help_text='0 to the criterion\'s max_points; yes / no also as true / false or "yes" / "no"; null clears',
    )
    note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")


class DealScorecardInputSerializer(serializers.Serializer):
    answers = ScorecardAnswerInputSerializer(many=True, allow_empty=False)


class ScorecardRatesSerializer(serializers.Serializer):
    won = serializers.IntegerField()
    lost = serializers.IntegerField()
    closed = serializers.IntegerField(help_text="The sample size: won + lost")
    win_rate = serializers.FloatField(allow_null=True)
    interval = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="95% Wilson interval [low, high]"
    )


class ScorecardBandRatesSerializer(ScorecardRatesSerializer):
    low = serializers.IntegerField()
    high = serializers.IntegerField(help_text="Exclusive")
    label = serializers.CharField()


class ScorecardWinRatesOutputSerializer(serializers.Serializer):
    process = serializers.IntegerField()
    complete_only = serializers.BooleanField()
    bands = ScorecardBandRatesSerializer(many=True)
    not_scored = ScorecardRatesSerializer()
    incomplete = ScorecardRatesSerializer()


class ScorecardWinRatesQuerySerializer(serializers.Serializer):
    edges = serializers.CharField(
        required=False, help_text="Band edges, ascending, comma-separated: 0,40,70,101 (the default)"
    )
    complete_only = serializers.BooleanField(required=False, default=False)

    def validate_edges(self, value: str) -> list[tuple[int, int]]:
        try:
            edges = [int(part) for part in value.split(",")]
        except ValueError:
            raise serializers.ValidationError(
                "Whole numbers separated by commas, e.g. 0,40,70,101."
            ) from None
        if len(edges) < 2 or edges[0] < 0 or any(a >= b for a, b in zip(edges, edges[1:], strict=False)):
            raise serializers.ValidationError("At least two edges, from 0 up, each above the one before.")
        return list(zip(edges, edges[1:], strict=False))


# ---------------------------------------------------------------------------------------------------
# Output


def scorecard_data(scorecard) -> dict:
    scorecard.criteria_list = list(scorecard_criteria(scorecard))
    return ScorecardOutputSerializer(scorecard).data


def deal_scorecard_data(deal: Deal, scorecard) -> dict:
    view = deal_scorecard_view(deal=deal, scorecard=scorecard)
    criteria = []
    for row in view.rows:
        item = ScorecardCriterionOutputSerializer(row.criterion).data
        item["answer"] = ScorecardAnswerOutputSerializer(row.answer).data if row.answer else None
        criteria.append(item)
    return {
        "deal": deal.pk,
        "scorecard": scorecard.pk,
        "threshold": scorecard.threshold,
        "score": f"{view.score:.2f}" if view.score is not None else None,
        "result": view.result or "not_scored",
        "answered": view.answered,
        "criteria": criteria,
    }


# ---------------------------------------------------------------------------------------------------
# Views


class ProcessScopedMixin(ScopedObjectMixin):
    scoped_attr = "process"
    scoped_url_kwarg = "process_id"

    def get_scoped_queryset(self):
        return Process.objects.for_org(request_org(self.request)).select_related("scorecard")

    def scorecard_or_404(self):
        scorecard = process_scorecard(self.process)
        if scorecard is None:
            raise Http404(NO_SCORECARD)
        return scorecard


@extend_schema(tags=["scorecards"])
class ProcessScorecardApi(ProcessScopedMixin, APIView):
    @extend_schema(responses={200: ScorecardOutputSerializer, 404: OpenApiResponse(description=NO_SCORECARD)})
    def get(self, request, process_id: int):
        """The process's qualification scorecard with its criteria in order."""
        return Response(scorecard_data(self.scorecard_or_404()))

    @extend_schema(
        request=ScorecardInputSerializer,
        responses={200: ScorecardOutputSerializer, 201: ScorecardOutputSerializer, 403: NOT_ALLOWED},
    )
    def put(self, request, process_id: int):
        """Create the scorecard (201) or set its name, threshold and whether deals are asked (200). A new
        threshold recomputes every deal's result. Ops and admins."""
        require_scorecard_editor(request.membership, self.process.organization_id)
        data = ScorecardInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scorecard = process_scorecard(self.process)
        if scorecard is None:
            scorecard = scorecard_create(process=self.process, by=request.membership, **data.validated_data)
            return Response(scorecard_data(scorecard), status=status.HTTP_201_CREATED)
        scorecard = scorecard_update(scorecard=scorecard, by=request.membership, **data.validated_data)
        return Response(scorecard_data(scorecard))


@extend_schema(tags=["scorecards"])
class ScorecardCriteriaApi(ProcessScopedMixin, APIView):
    @extend_schema(responses=ScorecardCriterionOutputSerializer(many=True))
    def get(self, request, process_id: int):
        """The scorecard's criteria in order (at most 30: no pagination)."""
        criteria = scorecard_criteria(self.scorecard_or_404())
        return Response(ScorecardCriterionOutputSerializer(criteria, many=True).data)

    @extend_schema(
        request=ScorecardCriterionCreateInputSerializer,
        responses={201: ScorecardCriterionOutputSerializer, 403: NOT_ALLOWED},
    )
    def post(self, request, process_id: int):
        """Add a criterion at the end. Scored deals become incomplete until they answer it."""
        scorecard = self.scorecard_or_404()
        require_scorecard_editor(request.membership, scorecard.organization_id)
        data = ScorecardCriterionCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        criterion = scorecard_criterion_add(scorecard=scorecard, by=request.membership, **data.validated_data)
        return Response(ScorecardCriterionOutputSerializer(criterion).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["scorecards"])
class ScorecardCriteriaOrderApi(ProcessScopedMixin, APIView):
    @extend_schema(
        request=ScorecardCriteriaOrderInputSerializer,
        responses={200: ScorecardCriterionOutputSerializer(many=True), 403: NOT_ALLOWED},
    )
    def post(self, request, process_id: int):
        """Put the criteria in this order (every criterion id exactly once)."""
        scorecard = self.scorecard_or_404()
        require_scorecard_editor(request.membership, scorecard.organization_id)
        data = ScorecardCriteriaOrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        scorecard_criterion_reorder(
            scorecard=scorecard, by=request.membership, criterion_ids=data.validated_data["criterion_ids"]
        )
        return Response(ScorecardCriterionOutputSerializer(scorecard_criteria(scorecard), many=True).data)


@extend_schema(tags=["scorecards"])
class ScorecardCriterionDetailApi(ScopedObjectMixin, APIView):
    scoped_attr = "criterion"
    scoped_url_kwarg = "scorecard_criterion_id"

    def get_scoped_queryset(self):
        return ScorecardCriterion.objects.for_org(request_org(self.request))

    @extend_schema(responses=ScorecardCriterionOutputSerializer)
    def get(self, request, scorecard_criterion_id: int):
        return Response(ScorecardCriterionOutputSerializer(self.criterion).data)

    @extend_schema(
        request=ScorecardCriterionInputSerializer,
        responses={200: ScorecardCriterionOutputSerializer, 403: NOT_ALLOWED},
    )
    def patch(self, request, scorecard_criterion_id: int):
        """Edit the criterion. A new weight recomputes every deal's score; the scale of a criterion deals
        answered is fixed."""
        require_scorecard_editor(request.membership, self.criterion.organization_id)
        data = ScorecardCriterionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        criterion = scorecard_criterion_update(
            criterion=self.criterion, by=request.membership, **data.validated_data
        )
        return Response(ScorecardCriterionOutputSerializer(criterion).data)

    @extend_schema(responses={204: OpenApiResponse(description="Removed"), 403: NOT_ALLOWED})
    def delete(self, request, scorecard_criterion_id: int):
        """Remove the criterion and the deals' answers to it; their scores are recomputed."""
        scorecard_criterion_delete(criterion=self.criterion, by=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["scorecards"])
class DealScorecardApi(DealScopedMixin, APIView):
    def get_scoped_queryset(self):
        return Deal.objects.for_org(request_org(self.request)).select_related("process__scorecard")

    def _scorecard(self):
        scorecard = process_scorecard(self.deal.process)
        if scorecard is None:
            raise Http404(NO_SCORECARD)
        return scorecard

    @extend_schema(responses={200: DealScorecardOutputSerializer})
    def get(self, request, deal_id: int):
        """The deal's answers to its process's scorecard, with its score and result."""
        return Response(deal_scorecard_data(self.deal, self._scorecard()))

    @extend_schema(
        request=DealScorecardInputSerializer, responses={200: DealScorecardOutputSerializer, 403: NOT_ALLOWED}
    )
    def put(self, request, deal_id: int):
        """Set (or, with a null value, clear) the listed answers, all or nothing; answers not listed stay
        as they are. The deal's owner, their manager and admins; open deals only."""
        scorecard = self._scorecard()
        data = DealScorecardInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answers = [AnswerInput(a["criterion"], a["value"], a["note"]) for a in data.validated_data["answers"]]
        deal_scorecard_answers_set(deal=self.deal, by=request.membership, answers=answers)
        return Response(deal_scorecard_data(self.deal, scorecard))


@extend_schema(tags=["scorecards"])
class ScorecardWinRatesApi(ProcessScopedMixin, APIView):
    @extend_schema(
        parameters=[ScorecardWinRatesQuerySerializer],
        responses={200: ScorecardWinRatesOutputSerializer, 403: NOT_ALLOWED},
    )
    def get(self, request, process_id: int):
        """Closed deals by the score band they closed in: won, lost, the win rate and its 95% Wilson
        interval. Managers, ops and admins."""
        if not request.membership.sees_analytics:
            raise PermissionDenied("Win rates are for managers, ops and admins.")
        self.scorecard_or_404()
        query = ScorecardWinRatesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        bands = query.validated_data.get("edges") or DEFAULT_BANDS
        rates = win_rate_by_scorecard_band(
            self.process, bands, complete_only=query.validated_data["complete_only"]
        )
        return Response(ScorecardWinRatesOutputSerializer(rates).data)
