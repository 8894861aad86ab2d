"""A deal's plan, people and activity over the API: steps, stakeholders and activities.

Lists live under the deal (/api/deals/{deal_id}/…); single steps and stakeholders have their own URL
(/api/steps/{step_id}/, /api/stakeholders/{stakeholder_id}/) for edits."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.common import DealScopedMixin
from deals.api.deals import NOT_ALLOWED
from deals.api.serializers import RefSerializer, UserRefSerializer
from deals.models import (
    Activity,
    ActivityKind,
    Attitude,
    Contact,
    DealStakeholder,
    DealStep,
    StakeholderRole,
    StepSource,
)
from deals.services import (
    activity_log,
    stakeholder_add,
    stakeholder_remove,
    stakeholder_update,
    step_add,
    step_set_done,
)
from salesproc.lib.api_pagination import IdCursorPagination
from salesproc.lib.api_scoping import OrgPrimaryKeyRelatedField, ScopedObjectMixin, request_org

# ---- activities


class ActivityOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=ActivityKind.choices)
    subject = serializers.CharField()
    body = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    stakeholder = serializers.IntegerField(source="stakeholder_id", allow_null=True)
    by = UserRefSerializer(allow_null=True)
    created_at = serializers.DateTimeField()


class ActivityInputSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=ActivityKind.choices)
    subject = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=20000, required=False, allow_blank=True)
    occurred_at = serializers.DateTimeField(required=False, help_text="Defaults to now; never in the future")
    stakeholder = OrgPrimaryKeyRelatedField(DealStakeholder, required=False, allow_null=True)


class ActivityPagination(IdCursorPagination):
    """Latest activity first, by when it happened (an activity may be logged after the fact)."""

    ordering = ("-occurred_at", "-id")


@extend_schema(tags=["deal plan"])
class DealActivityListCreateApi(DealScopedMixin, generics.ListAPIView):
    """The deal's activities, latest first."""

    serializer_class = ActivityOutputSerializer
    pagination_class = ActivityPagination

    def get_queryset(self):
        return Activity.objects.for_org(request_org(self.request)).filter(deal=self.deal).select_related("by")

    @extend_schema(
        request=ActivityInputSerializer, responses={201: ActivityOutputSerializer, 403: NOT_ALLOWED}
    )
    def post(self, request, deal_id: int):
        data = ActivityInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        activity = activity_log(deal=self.deal, by=request.membership, **data.validated_data)
        return Response(ActivityOutputSerializer(activity).data, status=status.HTTP_201_CREATED)


# ---- steps


class StepOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deal = serializers.IntegerField(source="deal_id")
    title = serializers.CharField()
    description = serializers.CharField()
    source = serializers.ChoiceField(choices=StepSource.choices)
    stage = serializers.IntegerField(source="stage_id", allow_null=True)
    criterion = serializers.IntegerField(source="criterion_id", allow_null=True)
    position = serializers.IntegerField()
    due_date = serializers.DateField(allow_null=True)
    assignee = UserRefSerializer(allow_null=True)
    done = serializers.BooleanField(source="is_done")
    completed_at = serializers.DateTimeField(allow_null=True)
    completed_by = UserRefSerializer(allow_null=True)
    created_at = serializers.DateTimeField()


class StepInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    due_date = serializers.DateField(required=False, allow_null=True)
    assignee = serializers.IntegerField(required=False, allow_null=True, help_text="User id of a member")


class StepDoneInputSerializer(serializers.Serializer):
    done = serializers.BooleanField()


class PlanPagination(IdCursorPagination):
    """The plan in its order (position, then id)."""

    ordering = ("position", "id")


def step_queryset(org):
    return DealStep.objects.for_org(org).select_related("deal", "assignee", "completed_by")


@extend_schema(tags=["deal plan"])
class DealStepListCreateApi(DealScopedMixin, generics.ListAPIView):
    """The deal's plan: stage steps, play steps and custom steps, in order."""

    serializer_class = StepOutputSerializer
    pagination_class = PlanPagination

    def get_queryset(self):
        return step_queryset(request_org(self.request)).filter(deal=self.deal)

    @extend_schema(request=StepInputSerializer, responses={201: StepOutputSerializer, 403: NOT_ALLOWED})
    def post(self, request, deal_id: int):
        """Add a custom step (deal-level strategy) to the plan."""
        data = StepInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        step = step_add(deal=self.deal, by=request.membership, **data.validated_data)
        step = step_queryset(request_org(request)).get(pk=step.pk)
        return Response(StepOutputSerializer(step).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["deal plan"])
class StepDetailApi(ScopedObjectMixin, APIView):
    scoped_attr = "step"
    scoped_url_kwarg = "step_id"

    def get_scoped_queryset(self):
        return step_queryset(request_org(self.request))

    @extend_schema(responses=StepOutputSerializer)
    def get(self, request, step_id: int):
        return Response(StepOutputSerializer(self.step).data)

    @extend_schema(
        request=StepDoneInputSerializer,
        responses={200: StepOutputSerializer, 403: NOT_ALLOWED},
        description="Tick or untick the step.",
    )
    def patch(self, request, step_id: int):
        data = StepDoneInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        step_set_done(step=self.step, by=request.membership, done=data.validated_data["done"])
        step = step_queryset(request_org(request)).get(pk=self.step.pk)
        return Response(StepOutputSerializer(step).data)


# ---- stakeholders


class StakeholderOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deal = serializers.IntegerField(source="deal_id")
    contact = RefSerializer()
    role = serializers.ChoiceField(choices=StakeholderRole.choices)
    influence = serializers.IntegerField(help_text="1 (low) to 5 (high)")
    attitude = serializers.ChoiceField(choices=Attitude.choices)
    desired_results = serializers.CharField()
    wins = serializers.CharField(help_text="What this person wins personally")
    created_at = serializers.DateTimeField()


class StakeholderUpdateInputSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=StakeholderRole.choices, required=False)
    influence = serializers.IntegerField(min_value=1, max_value=5, required=False)
    attitude = serializers.ChoiceField(choices=Attitude.choices, required=False)
    desired_results = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    wins = serializers.CharField(max_length=5000, required=False, allow_blank=True)


class StakeholderCreateInputSerializer(StakeholderUpdateInputSerializer):
    contact = OrgPrimaryKeyRelatedField(Contact)
    role = serializers.ChoiceField(choices=StakeholderRole.choices)


def stakeholder_queryset(org):
    return DealStakeholder.objects.for_org(org).select_related("deal", "contact")


@extend_schema(tags=["deal plan"])
class DealStakeholderListCreateApi(DealScopedMixin, generics.ListAPIView):
    """The people on the deal with their roles."""

    serializer_class = StakeholderOutputSerializer

    def get_queryset(self):
        return stakeholder_queryset(request_org(self.request)).filter(deal=self.deal)

    @extend_schema(
        request=StakeholderCreateInputSerializer,
        responses={201: StakeholderOutputSerializer, 403: NOT_ALLOWED},
    )
    def post(self, request, deal_id: int):
        data = StakeholderCreateInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        stakeholder = stakeholder_add(deal=self.deal, by=request.membership, **data.validated_data)
        return Response(StakeholderOutputSerializer(stakeholder).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["deal plan"])
class StakeholderDetailApi(ScopedObjectMixin, APIView):
    scoped_attr = "stakeholder"
    scoped_url_kwarg = "stakeholder_id"

    def get_scoped_queryset(self):
        return stakeholder_queryset(request_org(self.request))

    @extend_schema(responses=StakeholderOutputSerializer)
    def get(self, request, stakeholder_id: int):
        return Response(StakeholderOutputSerializer(self.stakeholder).data)

    @extend_schema(
        request=StakeholderUpdateInputSerializer,
        responses={200: StakeholderOutputSerializer, 403: NOT_ALLOWED},
    )
    def patch(self, request, stakeholder_id: int):
        data = StakeholderUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stakeholder = stakeholder_update(
            stakeholder=self.stakeholder, by=request.membership, **data.validated_data
        )
        return Response(StakeholderOutputSerializer(stakeholder).data)

    @extend_schema(
        responses={204: OpenApiResponse(description="Removed from the deal"), 403: NOT_ALLOWED},
    )
    def delete(self, request, stakeholder_id: int):
        stakeholder_remove(stakeholder=self.stakeholder, by=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)
