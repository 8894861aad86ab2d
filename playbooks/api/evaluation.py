"""Where plays apply, over the API: a re-evaluation run's progress, the deals a play is (or was)
attached to, whether the play works (effectiveness), and what a condition would match before it is
saved (preview)."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import generics, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.serializers import ErrorSerializer, RefSerializer, UserRefSerializer
from deals.models import DealStatus
from playbooks.api.common import NOT_ALLOWED, require_editor
from playbooks.api.plays import CONDITION_HELP, PlayEvaluationRunOutputSerializer, PlayScopedApi
from playbooks.effectiveness import play_effectiveness
from playbooks.models import PlayEvaluationRun
from playbooks.selectors import play_attachments, play_preview
from salesproc.lib.api_pagination import IdCursorPagination
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org
from salesproc.lib.errors import NotAllowed
from salesproc.models import Process

# ---------------------------------------------------------------------------------------------------
# Evaluation runs


@extend_schema(tags=["playbooks"])
class PlayEvaluationRunDetailApi(ScopedObjectMixin, APIView):
    """A play's re-evaluation across the open deals: status and progress (poll it)."""

    scoped_attr = "run"
    scoped_url_kwarg = "evaluation_run_id"

    def get_scoped_queryset(self):
        return PlayEvaluationRun.objects.for_org(request_org(self.request))

    @extend_schema(responses=PlayEvaluationRunOutputSerializer)
    def get(self, request, evaluation_run_id: int):
        return Response(PlayEvaluationRunOutputSerializer(self.run).data)


# ---------------------------------------------------------------------------------------------------
# A play's deals


class AttachedDealSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=DealStatus.choices)
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    stage = RefSerializer()
    owner = UserRefSerializer()


class PlayAttachmentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The attachment's id")
    deal = AttachedDealSerializer()
    attached_at = serializers.DateTimeField()
    detached_at = serializers.DateTimeField(allow_null=True, help_text="Null while attached")
    why = serializers.ListField(
        child=serializers.CharField(), help_text="The parts of the condition that held when attached"
    )


class AttachedQuerySerializer(serializers.Serializer):
    attached = serializers.ChoiceField(choices=["true", "false", "all"], default="true")


class AttachmentPagination(IdCursorPagination):
    """Newest attachment first (`play_attachments`' order), keyset on (attached_at, id)."""

    ordering = ("-attached_at", "-id")


ATTACHED_VALUES = {"true": True, "false": False, "all": None}


@extend_schema(tags=["playbooks"])
class PlayDealsApi(PlayScopedApi, generics.ListAPIView):
    """The deals the play is attached to now (`attached=true`, the default), was attached to and left
    (`false`), or both (`all`), newest attachment first, one cursor page at a time (never a count)."""

    serializer_class = PlayAttachmentOutputSerializer
    pagination_class = AttachmentPagination

    def get_queryset(self):
        query = AttachedQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return play_attachments(play=self.play, attached=ATTACHED_VALUES[query.validated_data["attached"]])

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "attached",
                OpenApiTypes.STR,
                enum=list(ATTACHED_VALUES),
                description="true (default): attached now; false: detached since; all: both",
            )
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


# ---------------------------------------------------------------------------------------------------
# Effectiveness


class ProportionSerializer(serializers.Serializer):
    n = serializers.IntegerField(help_text="Resolved deals (the rate's denominator)")
    successes = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    ci = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="95% Wilson interval [low, high]"
    )
    small_sample = serializers.BooleanField()


class ConversionSideSerializer(ProportionSerializer):
    entered = serializers.IntegerField()
    advanced = serializers.IntegerField()
    dropped = serializers.IntegerField()
    open = serializers.IntegerField()


class WinRateSideSerializer(ProportionSerializer):
    won = serializers.IntegerField()
    lost = serializers.IntegerField()


class _ComparisonSerializer(serializers.Serializer):
    difference = serializers.FloatField(allow_null=True, help_text="Treated − comparison")
    difference_ci = serializers.ListField(
        child=serializers.FloatField(), allow_null=True, help_text="95% Newcombe interval"
    )
    p_value = serializers.FloatField(allow_null=True)
    verdict = serializers.CharField(
        help_text='"helps", "hurts", "no measurable effect" or "not enough data yet"'
    )
    more_needed = serializers.IntegerField(
        allow_null=True, help_text="Not enough data yet: how many more resolved deals both sides need"
    )


class StageConversionComparisonSerializer(_ComparisonSerializer):
    treated = ConversionSideSerializer()
    comparison = ConversionSideSerializer()
    excluded = serializers.IntegerField(help_text="Deals attached only after leaving the stage")


class WinRateComparisonSerializer(_ComparisonSerializer):
    treated = WinRateSideSerializer()
    comparison = WinRateSideSerializer()


class PlayEffectivenessSerializer(serializers.Serializer):
    play = serializers.CharField()
    play_id = serializers.IntegerField()
    target_stage = serializers.CharField(allow_null=True)
    target_stage_id = serializers.IntegerField(allow_null=True)
    computed_at = serializers.DateTimeField()
    win_rate = WinRateComparisonSerializer()
    stage_conversion = StageConversionComparisonSerializer(
        allow_null=True, help_text="Conversion of the target stage; null without one"
    )
    verdict = serializers.CharField(help_text="The target stage's verdict if it has one, else the win rate's")


@extend_schema(tags=["playbooks"])
class PlayEffectivenessApi(PlayScopedApi):
    """Does the play work? The deals it was attached to against comparable deals it was not (managers,
    ops and admins). An observational comparison: a verdict says the numbers differ, not why."""

    @extend_schema(
        responses={
            200: PlayEffectivenessSerializer,
            403: OpenApiResponse(ErrorSerializer, description="For managers, ops and admins"),
        }
    )
    def get(self, request, play_id: int):
        if not request.membership.sees_analytics:
            raise NotAllowed("Play effectiveness is for managers, ops and admins.")
        return Response(PlayEffectivenessSerializer(play_effectiveness(play=self.play)).data)


# ---------------------------------------------------------------------------------------------------
# Preview


class PreviewInputSerializer(serializers.Serializer):
    condition = serializers.JSONField(help_text=CONDITION_HELP)
    process = serializers.IntegerField(
        required=False, allow_null=True, help_text="Only this process's deals; null or absent: every process"
    )
    sample = serializers.IntegerField(required=False, min_value=0, max_value=50, default=10)


class PreviewDealSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    stage = RefSerializer()
    owner = UserRefSerializer()
    account = RefSerializer()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()


class PreviewOutputSerializer(serializers.Serializer):
    matching_open_deals = serializers.IntegerField()
    description = serializers.CharField(help_text="The condition in words")
    sample = PreviewDealSerializer(many=True, help_text="A few of them, newest first")


@extend_schema(tags=["playbooks"])
class PlayPreviewApi(APIView):
    """What a condition would match now, before a play is saved (ops, admins)."""

    @extend_schema(
        request=PreviewInputSerializer,
        responses={
            200: PreviewOutputSerializer,
            400: OpenApiResponse(description="Each bad part of the condition with its path, or `process`"),
            403: NOT_ALLOWED,
        },
    )
    def post(self, request):
        require_editor(request)
        data = PreviewInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        org = request_org(request)
        process = None
        process_id = data.validated_data.get("process")
        if process_id is not None:
            process = Process.objects.for_org(org).filter(pk=process_id).first()
            if process is None:
                raise serializers.ValidationError({"process": ["Unknown process."]})
        preview = play_preview(
            org=org,
            condition=data.validated_data["condition"],
            process=process,
            sample=data.validated_data["sample"],
        )
        body = {
            "matching_open_deals": preview.count,
            "description": preview.description,
            "sample": preview.sample,
        }
        return Response(PreviewOutputSerializer(body).data)
