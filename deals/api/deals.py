"""Deals over the API: the list (filters, cursor pages), create, detail, edit, and the stage actions.

Every write names the `version` the caller read; a stale one is a 409 carrying `current_version`, and
nothing is written. Role rules come from the services (a refusal is a 403)."""

from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.common import DealScopedMixin, deal_detail_queryset, deal_list_queryset
from deals.api.filters import DEAL_LIST_PARAMETERS, DealFilter
from deals.api.serializers import (
    CriteriaUnmetErrorSerializer,
    DealDetailOutputSerializer,
    DealListOutputSerializer,
    ErrorSerializer,
    StaleVersionErrorSerializer,
    UnmetCriterionSerializer,
)
from deals.criteria import stage_criteria_status
from deals.models import Account, Deal
from deals.services import answer_set, deal_create, deal_lose, deal_move, deal_update, deal_win
from salesproc.lib.api_scoping import OrgPrimaryKeyRelatedField, request_org
from salesproc.models import ExitCriterion, Process, Stage

NOT_ALLOWED = OpenApiResponse(ErrorSerializer, description="Your role may not do this to this deal")
STALE = OpenApiResponse(StaleVersionErrorSerializer, description="The deal changed since you read it")


class DealFieldsInputSerializer(serializers.Serializer):
    """The deal fields a caller may set; the services check the values against the org and the role."""

    name = serializers.CharField(max_length=200)
    account = OrgPrimaryKeyRelatedField(Account)
    owner = serializers.IntegerField(
        required=False,
        help_text="User id of the owner. Reps own the deals they create; managers assign within their team.",
    )
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, min_value=0, required=False)
    currency = serializers.CharField(max_length=3, required=False, allow_blank=True)
    expected_close = serializers.DateField(required=False, allow_null=True)
    industry = serializers.CharField(max_length=80, required=False, allow_blank=True)
    budget = serializers.DecimalField(
        max_digits=14, decimal_places=2, min_value=0, required=False, allow_null=True
    )
    lead_source = serializers.CharField(max_length=80, required=False, allow_blank=True)
    description = serializers.CharField(max_length=10000, required=False, allow_blank=True)
    competitors = serializers.ListField(
        child=serializers.CharField(max_length=120), max_length=30, required=False
    )
    objections = serializers.ListField(
        child=serializers.CharField(max_length=120), max_length=30, required=False
    )


class DealCreateInputSerializer(DealFieldsInputSerializer):
    process = OrgPrimaryKeyRelatedField(Process, help_text="The deal enters the process's first stage")


# Set only by the actions and the system. On create they are ignored (as DRF ignores unknown fields);
# an edit that names one is refused, so a client never believes a stage or status change happened.
DEAL_READ_ONLY_FIELDS = {
    "id": "Read-only.",
    "organization": "Read-only.",
    "process": "A deal stays in its process.",
    "stage": "Use POST /api/deals/{id}/move/.",
    "status": "Use POST /api/deals/{id}/win/ or /lose/.",
    "closed_at": "Use POST /api/deals/{id}/win/ or /lose/.",
    "lost_reason": "Use POST /api/deals/{id}/lose/.",
    "external_id": "Read-only.",
    "stage_entered_at": "Read-only.",
    "last_activity_at": "Read-only.",
    "created_at": "Read-only.",
    "updated_at": "Read-only.",
}


class DealUpdateInputSerializer(DealFieldsInputSerializer):
    """Any of the deal fields, plus the `version` the caller read (always required)."""

    version = serializers.IntegerField(min_value=1, help_text="The version you read (optimistic lock)")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name, field in self.fields.items():
            field.required = name == "version"

    def validate(self, attrs):
        refused = sorted(set(self.initial_data) & set(DEAL_READ_ONLY_FIELDS))
        if refused:
            raise serializers.ValidationError({name: [DEAL_READ_ONLY_FIELDS[name]] for name in refused})
        return attrs


@extend_schema(tags=["deals"])
@extend_schema_view(get=extend_schema(parameters=DEAL_LIST_PARAMETERS))
class DealListCreateApi(generics.ListAPIView):
    """The organization's deals, newest first, one cursor page at a time (never a count)."""

    serializer_class = DealListOutputSerializer
    queryset = Deal.objects.none()  # for the schema only: get_queryset scopes to the org
    filter_backends = [DjangoFilterBackend]
    filterset_class = DealFilter

    def get_queryset(self):
        return deal_list_queryset(request_org(self.request))

    @extend_schema(
        request=DealCreateInputSerializer,
        responses={201: DealDetailOutputSerializer, 403: NOT_ALLOWED},
        description="Create a deal; it enters the first stage of its process. Read-only fields "
        "(stage, status, organization, …) are ignored.",
    )
    def post(self, request):
        data = DealCreateInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        deal = deal_create(by=request.membership, **data.validated_data)
        deal = deal_detail_queryset(request_org(request)).get(pk=deal.pk)
        return Response(DealDetailOutputSerializer(deal).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["deals"])
class DealDetailApi(DealScopedMixin, APIView):
    """One deal: read it, or edit its fields."""

    def get_scoped_queryset(self):
        return deal_detail_queryset(request_org(self.request))

    @extend_schema(responses=DealDetailOutputSerializer)
    def get(self, request, deal_id: int):
        return Response(DealDetailOutputSerializer(self.deal).data)

    @extend_schema(
        request=DealUpdateInputSerializer,
        responses={200: DealDetailOutputSerializer, 403: NOT_ALLOWED, 409: STALE},
        description="Edit some of the deal's fields; `version` is required. Stage and status change "
        "through the actions; naming a read-only field is a 400.",
    )
    def patch(self, request, deal_id: int):
        data = DealUpdateInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        expected_version = fields.pop("version")
        deal_update(deal=self.deal, by=request.membership, expected_version=expected_version, **fields)
        return Response(DealDetailOutputSerializer(self.reloaded_deal()).data)


class DealMoveInputSerializer(serializers.Serializer):
    to_stage = OrgPrimaryKeyRelatedField(Stage, help_text="A stage of the deal's process")
    version = serializers.IntegerField(min_value=1)
    override_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=2000,
        help_text="A manager's reason to move past unmet mandatory criteria (never critical ones)",
    )


@extend_schema(tags=["deals"])
class DealMoveApi(DealScopedMixin, APIView):
    @extend_schema(
        request=DealMoveInputSerializer,
        responses={
            200: DealDetailOutputSerializer,
            400: OpenApiResponse(
                CriteriaUnmetErrorSerializer,
                description="Exit criteria unmet (code criteria_unmet), or invalid input naming the field",
            ),
            403: NOT_ALLOWED,
            409: STALE,
        },
        description="Move an open deal to another stage of its process. Forward moves need the current "
        "stage's exit criteria; back-moves are free.",
    )
    def post(self, request, deal_id: int):
        data = DealMoveInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        deal_move(
            deal=self.deal,
            to_stage=data.validated_data["to_stage"],
            by=request.membership,
            expected_version=data.validated_data["version"],
            override_reason=data.validated_data.get("override_reason"),
        )
        return Response(DealDetailOutputSerializer(self.reloaded_deal()).data)


class DealWinInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class DealLoseInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(max_length=300, help_text="Why the deal was lost")


@extend_schema(tags=["deals"])
class DealWinApi(DealScopedMixin, APIView):
    @extend_schema(
        request=DealWinInputSerializer,
        responses={200: DealDetailOutputSerializer, 403: NOT_ALLOWED, 409: STALE},
        description="Mark an open deal won.",
    )
    def post(self, request, deal_id: int):
        data = DealWinInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deal_win(deal=self.deal, by=request.membership, expected_version=data.validated_data["version"])
        return Response(DealDetailOutputSerializer(self.reloaded_deal()).data)


@extend_schema(tags=["deals"])
class DealLoseApi(DealScopedMixin, APIView):
    @extend_schema(
        request=DealLoseInputSerializer,
        responses={200: DealDetailOutputSerializer, 403: NOT_ALLOWED, 409: STALE},
        description="Mark an open deal lost, with the reason.",
    )
    def post(self, request, deal_id: int):
        data = DealLoseInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        deal_lose(
            deal=self.deal,
            by=request.membership,
            expected_version=data.validated_data["version"],
            reason=data.validated_data["reason"],
        )
        return Response(DealDetailOutputSerializer(self.reloaded_deal()).data)


@extend_schema(tags=["deals"])
class DealCriteriaApi(DealScopedMixin, APIView):
    @extend_schema(
        responses=UnmetCriterionSerializer(many=True),
        description="Each exit criterion of the deal's current stage and whether it holds now.",
    )
    def get(self, request, deal_id: int):
        return Response([s.as_dict() for s in stage_criteria_status(self.deal)])


class AnswerInputSerializer(serializers.Serializer):
    criterion = OrgPrimaryKeyRelatedField(ExitCriterion, help_text="An exit criterion of kind `answer`")
    text = serializers.CharField(max_length=5000, allow_blank=True, help_text="Empty clears the answer")


class AnswerOutputSerializer(serializers.Serializer):
    criterion = serializers.IntegerField()
    text = serializers.CharField()
    answered_at = serializers.DateTimeField(allow_null=True)
    answered_by = serializers.IntegerField(allow_null=True, help_text="User id")


@extend_schema(tags=["deals"])
class DealAnswerApi(DealScopedMixin, APIView):
    @extend_schema(
        request=AnswerInputSerializer,
        responses={200: AnswerOutputSerializer, 403: NOT_ALLOWED},
        description="Record (or clear, with empty text) the deal's answer to an exit-criterion question.",
    )
    def post(self, request, deal_id: int):
        data = AnswerInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        criterion = data.validated_data["criterion"]
        answer = answer_set(
            deal=self.deal, by=request.membership, criterion=criterion, text=data.validated_data["text"]
        )
        body = {
            "criterion": criterion.id,
            "text": answer.text if answer else "",
            "answered_at": answer.answered_at if answer else None,
            "answered_by": answer.answered_by_id if answer else None,
        }
        return Response(AnswerOutputSerializer(body).data)
