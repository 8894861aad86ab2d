"""A deal's plan, people and activity over the API: steps, stakeholders and activities.

Lists live under the deal (/api/deals/{deal_id}/…); single steps, step comments and stakeholders have
their own URL (/api/steps/{step_id}/, /api/step-comments/{comment_id}/, /api/stakeholders/{id}/) for
edits; a step's comment thread is /api/steps/{step_id}/comments/."""

from django.db import transaction
from django.db.models import Count
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
    StepComment,
    StepSource,
)
from deals.services import (
    activity_log,
    stakeholder_add,
    stakeholder_remove,
    stakeholder_update,
    step_add,
    step_comment_add,
    step_comment_delete,
    step_delete,
    step_set_done,
    step_update,
    steps_reorder,
)
from deals.services.plan import STEP_COMMENT_MAX
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


class StepStakeholderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="contact.name")
    role = serializers.ChoiceField(choices=StakeholderRole.choices)


class StepOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deal = serializers.IntegerField(source="deal_id")
    title = serializers.CharField()
    description = serializers.CharField()
    source = serializers.ChoiceField(choices=StepSource.choices)
    stage = serializers.IntegerField(source="stage_id", allow_null=True)
    criterion = serializers.IntegerField(source="criterion_id", allow_null=True)
    position = serializers.IntegerField(
        help_text="The step's place in the plan (all sources share one order)"
    )
    due_date = serializers.DateField(allow_null=True)
    assignee = UserRefSerializer(allow_null=True)
    stakeholder = StepStakeholderSerializer(
        allow_null=True, help_text="The customer's person the step is about"
    )
    done = serializers.BooleanField(source="is_done")
    completed_at = serializers.DateTimeField(allow_null=True)
    completed_by = UserRefSerializer(allow_null=True)
    created_by = UserRefSerializer(allow_null=True, help_text="Who added the step")
    created_at = serializers.DateTimeField()
    comment_count = serializers.IntegerField(help_text="Comments in the step's thread")


class StepInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    due_date = serializers.DateField(required=False, allow_null=True)
    assignee = serializers.IntegerField(
        required=False, allow_null=True, help_text="User id of an active member of the organization"
    )
    stakeholder = serializers.IntegerField(
        required=False, allow_null=True, help_text="Id of a stakeholder of this deal"
    )


class StepUpdateInputSerializer(serializers.Serializer):
    done = serializers.BooleanField(required=False, help_text="Tick or untick the step")
    title = serializers.CharField(max_length=200, required=False, help_text="Custom steps only")
    description = serializers.CharField(
        max_length=5000, required=False, allow_blank=True, help_text="Custom steps only"
    )
    due_date = serializers.DateField(required=False, allow_null=True)
    assignee = serializers.IntegerField(
        required=False, allow_null=True, help_text="User id of an active member of the organization"
    )
    stakeholder = serializers.IntegerField(
        required=False, allow_null=True, help_text="Id of a stakeholder of this deal"
    )


class StepReorderInputSerializer(serializers.Serializer):
    step_ids = serializers.ListField(
        child=serializers.IntegerField(),
        allow_empty=True,
        help_text="Every step id of the deal's plan, each once, in the new order",
    )


class StepReorderOutputSerializer(serializers.Serializer):
    step_ids = serializers.ListField(child=serializers.IntegerField())


class PlanPagination(IdCursorPagination):
    """The plan in its order (position, then id)."""

    ordering = ("position", "id")


def step_queryset(org):
    return (
        DealStep.objects.for_org(org)
        .select_related("deal", "assignee", "completed_by", "created_by", "stakeholder__contact")
        .annotate(comment_count=Count("comments"))
    )


@extend_schema(tags=["deal plan"])
class DealStepListCreateApi(DealScopedMixin, generics.ListAPIView):
    """The deal's plan: stage steps, play steps and custom steps, in one order."""

    serializer_class = StepOutputSerializer
    pagination_class = PlanPagination

    def get_queryset(self):
        return step_queryset(request_org(self.request)).filter(deal=self.deal)

    @extend_schema(request=StepInputSerializer, responses={201: StepOutputSerializer, 403: NOT_ALLOWED})
    def post(self, request, deal_id: int):
        """Add a custom step (deal-level strategy) at the end of the plan."""
        data = StepInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        step = step_add(deal=self.deal, by=request.membership, **data.validated_data)
        step = step_queryset(request_org(request)).get(pk=step.pk)
        return Response(StepOutputSerializer(step).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["deal plan"])
class DealStepReorderApi(DealScopedMixin, APIView):
    @extend_schema(
        request=StepReorderInputSerializer,
        responses={200: StepReorderOutputSerializer, 403: NOT_ALLOWED},
        description=(
            "Put the plan in a new order. Send every step of the deal's plan (stage, play and custom "
            "steps share one order) exactly once; missing, unknown or repeated ids are a 400 that lists "
            "them, and nothing changes."
        ),
    )
    def post(self, request, deal_id: int):
        data = StepReorderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = steps_reorder(deal=self.deal, by=request.membership, step_ids=data.validated_data["step_ids"])
        return Response({"step_ids": ids})


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
        request=StepUpdateInputSerializer,
        responses={200: StepOutputSerializer, 403: NOT_ALLOWED},
        description=(
            "Tick or untick the step (`done`) and change its plan: due date, assignee and stakeholder of "
            "any step, title and description of a custom step only (a stage or play step's text comes "
            "from its criterion or play: changing it is a 400). All or nothing."
        ),
    )
    def patch(self, request, step_id: int):
        data = StepUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        done = fields.pop("done", None)
        with transaction.atomic():
            if fields:
                step_update(step=self.step, by=request.membership, **fields)
            if done is not None:
                step_set_done(step=self.step, by=request.membership, done=done)
        step = step_queryset(request_org(request)).get(pk=self.step.pk)
        return Response(StepOutputSerializer(step).data)

    @extend_schema(
        responses={204: OpenApiResponse(description="Deleted with its comments"), 403: NOT_ALLOWED},
        description=(
            "Delete a custom step. Stage and play steps cannot be deleted (a 400 saying so): they leave "
            "the plan with their exit criterion or play."
        ),
    )
    def delete(self, request, step_id: int):
        step_delete(step=self.step, by=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---- step comments


class StepCommentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    step = serializers.IntegerField(source="step_id")
    author = UserRefSerializer(allow_null=True)
    body = serializers.CharField()
    mentions = serializers.ListField(
        child=serializers.DictField(),
        help_text='Resolved @mentions: [{"start": 0, "end": 5, "user_id": 7}] (offsets into body)',
    )
    created_at = serializers.DateTimeField()


class StepCommentInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=STEP_COMMENT_MAX, help_text="@name notifies a member")


class StepCommentPostedSerializer(StepCommentOutputSerializer):
    notified = UserRefSerializer(many=True, help_text="Members the comment's @mentions notified")
    unresolved = serializers.ListField(
        child=serializers.CharField(), help_text="@handles that named nobody (or several people)"
    )


class StepCommentPagination(IdCursorPagination):
    """A step's thread, oldest first (a conversation reads top to bottom)."""

    ordering = ("id",)


@extend_schema(tags=["deal plan"])
class StepCommentListCreateApi(ScopedObjectMixin, generics.ListAPIView):
    """The comment thread of one plan step, oldest first. Anyone who may read the deal reads and
    comments."""

    scoped_attr = "step"
    scoped_url_kwarg = "step_id"
    serializer_class = StepCommentOutputSerializer
    pagination_class = StepCommentPagination

    def get_scoped_queryset(self):
        return DealStep.objects.for_org(request_org(self.request)).select_related("deal")

    def get_queryset(self):
        return StepComment.objects.filter(step=self.step).select_related("author")

    @extend_schema(request=StepCommentInputSerializer, responses={201: StepCommentPostedSerializer})
    def post(self, request, step_id: int):
        data = StepCommentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        posted = step_comment_add(step=self.step, by=request.membership, body=data.validated_data["body"])
        comment = StepComment.objects.select_related("author").get(pk=posted.comment.pk)
        body = {
            **StepCommentOutputSerializer(comment).data,
            "notified": [{"id": p.user_id, "name": p.display_name} for p in posted.notified],
            "unresolved": posted.unresolved,
        }
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema(tags=["deal plan"])
class StepCommentDetailApi(ScopedObjectMixin, APIView):
    scoped_attr = "comment"
    scoped_url_kwarg = "comment_id"

    def get_scoped_queryset(self):
        return StepComment.objects.for_org(request_org(self.request)).select_related("author")

    @extend_schema(responses=StepCommentOutputSerializer)
    def get(self, request, comment_id: int):
        return Response(StepCommentOutputSerializer(self.comment).data)

    @extend_schema(
        responses={204: OpenApiResponse(description="Deleted"), 403: NOT_ALLOWED},
        description="Delete your own comment (nobody deletes another person's, whatever their role).",
    )
    def delete(self, request, comment_id: int):
        step_comment_delete(comment=self.comment, by=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


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
