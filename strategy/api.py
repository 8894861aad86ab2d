"""Deal-level strategy over the API: the strategy, its history, comments and notifications.

- `GET /api/deals/{deal_id}/strategy/`: the strategy (blank at version 0 before the first save) and
  whether the caller may edit it.
- `PUT /api/deals/{deal_id}/strategy/` with `version` and any of the five fields (those left out keep
  their text) → 200; 409 with `current_version` when someone saved since; 403 for members who only
  read.
- `GET /api/deals/{deal_id}/strategy/history/`: every save, newest first, with who changed which
  fields and their text before and after.
- `GET /api/deals/{deal_id}/comments/` (newest first) and `POST` with `{"body": …}` → 201 with whom
  its @mentions notified and the handles that named nobody.
- `GET /api/notifications/?unread=true`: the caller's notifications in this organization, newest first.
- `POST /api/notifications/{notification_id}/read/` → 200. Another member's notification is a 404.

Lists are cursor-paginated (no COUNT); each runs a fixed number of queries whatever its length."""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.common import DealScopedMixin
from deals.api.serializers import (
    ErrorSerializer,
    RefSerializer,
    StaleVersionErrorSerializer,
    UserRefSerializer,
)
from salesproc.lib.api_scoping import ScopedObjectMixin
from strategy.models import STRATEGY_FIELDS, STRATEGY_TEXT_MAX, NotificationKind
from strategy.selectors import (
    can_edit_strategy,
    deal_comments,
    deal_strategy,
    member_notifications,
    strategy_revisions,
)
from strategy.services import COMMENT_MAX, comment_add, notification_mark_read, strategy_update

NOT_ALLOWED = OpenApiResponse(
    ErrorSerializer, description="Only the deal's owner, their manager and admins change its strategy"
)
STALE = OpenApiResponse(
    StaleVersionErrorSerializer, description="Someone saved the strategy since you read it; nothing was saved"
)

# ---- the strategy


class StrategyOutputSerializer(serializers.Serializer):
    deal = serializers.IntegerField(source="deal_id")
    situation = serializers.CharField(help_text="Where the customer stands and what pushes them to change")
    desired_result = serializers.CharField(help_text="The result the customer wants")
    our_perspective = serializers.CharField(help_text="How we help them get there")
    risks = serializers.CharField()
    next_moves = serializers.CharField()
    version = serializers.IntegerField(help_text="0 before the first save; send it back with every PUT")
    updated_at = serializers.SerializerMethodField()
    updated_by = UserRefSerializer(allow_null=True)
    can_edit = serializers.SerializerMethodField()

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_updated_at(self, strategy) -> str | None:
        """When it was last saved (null before the first save)."""
        return serializers.DateTimeField().to_representation(strategy.updated_at) if strategy.pk else None

    def get_can_edit(self, strategy) -> bool:
        """Whether the caller may save it and comment."""
        return self.context["can_edit"]


class StrategyInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(
        min_value=0, help_text="The version you read (0 before the first save)"
    )
    situation = serializers.CharField(max_length=STRATEGY_TEXT_MAX, required=False, allow_blank=True)
    desired_result = serializers.CharField(max_length=STRATEGY_TEXT_MAX, required=False, allow_blank=True)
    our_perspective = serializers.CharField(max_length=STRATEGY_TEXT_MAX, required=False, allow_blank=True)
    risks = serializers.CharField(max_length=STRATEGY_TEXT_MAX, required=False, allow_blank=True)
    next_moves = serializers.CharField(max_length=STRATEGY_TEXT_MAX, required=False, allow_blank=True)


def _strategy_response(request, deal, *, status_code=status.HTTP_200_OK) -> Response:
    strategy = deal_strategy(deal)
    context = {"can_edit": can_edit_strategy(request.membership, deal)}
    return Response(StrategyOutputSerializer(strategy, context=context).data, status=status_code)


@extend_schema(tags=["deal strategy"])
class DealStrategyApi(DealScopedMixin, APIView):
    @extend_schema(responses={200: StrategyOutputSerializer})
    def get(self, request, deal_id: int):
        return _strategy_response(request, self.deal)

    @extend_schema(
        request=StrategyInputSerializer,
        responses={200: StrategyOutputSerializer, 403: NOT_ALLOWED, 409: STALE},
        description="Save the fields sent (the others keep their text); each save that changes text is "
        "kept in the history.",
    )
    def put(self, request, deal_id: int):
        data = StrategyInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = {k: v for k, v in data.validated_data.items() if k in STRATEGY_FIELDS}
        strategy_update(
            deal=self.deal, by=request.membership, expected_version=data.validated_data["version"], **fields
        )
        return _strategy_response(request, self.deal)


class StrategyChangeSerializer(serializers.Serializer):
    field = serializers.CharField(help_text=", ".join(STRATEGY_FIELDS))
    label = serializers.SerializerMethodField()
    before = serializers.CharField()
    after = serializers.CharField()

    def get_label(self, change) -> str:
        return STRATEGY_FIELDS.get(change["field"], change["field"])


class StrategyRevisionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    version = serializers.IntegerField(help_text="The strategy version this save produced")
    by = UserRefSerializer(allow_null=True)
    at = serializers.DateTimeField()
    changes = StrategyChangeSerializer(many=True)


@extend_schema(tags=["deal strategy"])
class DealStrategyHistoryApi(DealScopedMixin, generics.ListAPIView):
    """Every save of the deal's strategy, newest first."""

    serializer_class = StrategyRevisionOutputSerializer

    def get_queryset(self):
        return strategy_revisions(self.deal)


# ---- comments


class MentionSerializer(serializers.Serializer):
    start = serializers.IntegerField(help_text="Offset of the @ in the body")
    end = serializers.IntegerField()
    user = serializers.IntegerField(source="user_id")


class DealCommentOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deal = serializers.IntegerField(source="deal_id")
    author = UserRefSerializer(allow_null=True)
    body = serializers.CharField()
    is_coaching = serializers.BooleanField(help_text="Written by a manager or admin on someone else's deal")
    mentions = MentionSerializer(many=True, help_text="The members the body @mentions")
    created_at = serializers.DateTimeField()


class NotifiedSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="user_id")
    name = serializers.CharField(source="display_name")


class DealCommentCreatedSerializer(DealCommentOutputSerializer):
    notified = NotifiedSerializer(many=True, help_text="Who was notified (and emailed)")
    unresolved_mentions = serializers.ListField(
        child=serializers.CharField(), help_text="@handles that named nobody; they stay text"
    )


class DealCommentInputSerializer(serializers.Serializer):
    body = serializers.CharField(max_length=COMMENT_MAX)


@extend_schema(tags=["deal strategy"])
class DealCommentListCreateApi(DealScopedMixin, generics.ListAPIView):
    """Comments on the deal's strategy, newest first."""

    serializer_class = DealCommentOutputSerializer

    def get_queryset(self):
        return deal_comments(self.deal)

    @extend_schema(
        request=DealCommentInputSerializer, responses={201: DealCommentCreatedSerializer, 403: NOT_ALLOWED}
    )
    def post(self, request, deal_id: int):
        data = DealCommentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        posted = comment_add(deal=self.deal, by=request.membership, body=data.validated_data["body"])
        comment = deal_comments(self.deal).get(pk=posted.comment.pk)
        body = {
            **DealCommentOutputSerializer(comment).data,
            "notified": NotifiedSerializer(posted.notified, many=True).data,
            "unresolved_mentions": posted.unresolved,
        }
        return Response(body, status=status.HTTP_201_CREATED)


# ---- notifications


class NotificationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=NotificationKind.choices)
    deal = RefSerializer()
    comment = serializers.IntegerField(source="comment_id", allow_null=True)
    step_comment = serializers.IntegerField(
        source="step_comment_id", allow_null=True, help_text="Set when a comment on a plan step mentioned you"
    )
    step = serializers.IntegerField(source="step_comment.step_id", allow_null=True, default=None)
    actor = UserRefSerializer(allow_null=True)
    excerpt = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    read_at = serializers.DateTimeField(allow_null=True)

    def get_excerpt(self, notification) -> str:
        """The start of the comment that mentioned you."""
        source = notification.comment or notification.step_comment
        body = source.body if source else ""
        return body if len(body) <= 200 else body[:199] + "…"


class NotificationQuerySerializer(serializers.Serializer):
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)


@extend_schema(tags=["notifications"])
class NotificationListApi(generics.ListAPIView):
    """Your notifications in this organization, newest first."""

    serializer_class = NotificationOutputSerializer

    @extend_schema(
        parameters=[
            OpenApiParameter("unread", OpenApiTypes.BOOL, description="true: only unread; false: only read")
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        query = NotificationQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        rows = member_notifications(self.request.membership)
        unread = query.validated_data.get("unread")
        if unread is not None:
            rows = rows.filter(read_at__isnull=unread)
        return rows


@extend_schema(tags=["notifications"])
class NotificationReadApi(ScopedObjectMixin, APIView):
    scoped_attr = "notification"
    scoped_url_kwarg = "notification_id"

    def get_scoped_queryset(self):
        # Another member's notification is as unknown as another organization's.
        return member_notifications(self.request.membership)

    @extend_schema(request=None, responses={200: NotificationOutputSerializer})
    def post(self, request, notification_id: int):
        notification = notification_mark_read(notification=self.notification, by=request.membership)
        return Response(NotificationOutputSerializer(notification).data)


urlpatterns = [
    path("deals/<int:deal_id>/strategy/", DealStrategyApi.as_view(), name="deal_strategy"),
    path(
        "deals/<int:deal_id>/strategy/history/",
        DealStrategyHistoryApi.as_view(),
        name="deal_strategy_history",
    ),
    path("deals/<int:deal_id>/comments/", DealCommentListCreateApi.as_view(), name="deal_comments"),
    path("notifications/", NotificationListApi.as_view(), name="notification_list"),
    path(
        "notifications/<int:notification_id>/read/", NotificationReadApi.as_view(), name="notification_read"
    ),
]
