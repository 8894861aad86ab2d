"""Plays over the API: a playbook's plays, and one play to read, edit (version-guarded), activate,
deactivate or delete. Every member reads; ops and admins write.

A condition is validated by the services (`conditions.parse` with the organization): a bad one is a 400
listing every problem with its path, e.g. `{"condition": ["all[2].op: unknown operator \\"gtt\\""]}`,
and nothing is written. A change that can change where the play is attached queues a re-evaluation
run; the play's `evaluation` is the latest run, to poll at its `status_url`."""

from django.urls import reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from playbooks.api.common import (
    NO_CONTENT,
    NOT_ALLOWED,
    STALE,
    condition_texts,
    play_queryset,
    playbook_queryset,
    refuse_read_only,
    require_editor,
)
from playbooks.markdown import render_markdown
from playbooks.models import Play, PlayEvaluationStatus
from playbooks.selectors import play_evaluation_latest
from playbooks.services import play_create, play_delete, play_set_active, play_update
from salesproc.lib.api_pagination import IdCursorPagination
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org

CONDITION_HELP = (
    'Trigger condition: {"all": [...]}, {"any": [...]}, {"not": {...}} or {"field", "op", "value"} '
    "(docs/api.md, Playbooks). Stored normalized."
)


class PlayEvaluationRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    play = serializers.IntegerField(source="play_id")
    status = serializers.ChoiceField(choices=PlayEvaluationStatus.choices)
    total = serializers.IntegerField(help_text="Open deals the run looks at")
    done = serializers.IntegerField(help_text="Of which looked at so far")
    progress = serializers.IntegerField(source="percent", help_text="0–100")
    attached = serializers.IntegerField(help_text="Deals the play was attached to")
    detached = serializers.IntegerField(help_text="Deals the play was detached from")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    status_url = serializers.SerializerMethodField()

    def get_status_url(self, run) -> str:
        return reverse("api:play_evaluation_run_detail", args=[run.id])


class PlayOutputSerializer(serializers.Serializer):
    """A play as listed. `condition_text` comes from the view (`condition_texts`, one batch a page)."""

    id = serializers.IntegerField()
    playbook = serializers.IntegerField(source="playbook_id")
    name = serializers.CharField()
    description = serializers.CharField()
    condition = serializers.JSONField(help_text=CONDITION_HELP)
    condition_text = serializers.SerializerMethodField()
    talk_track = serializers.CharField(help_text="Markdown source")
    priority = serializers.IntegerField(help_text="Higher first, -1000 to 1000")
    active = serializers.BooleanField()
    target_stage = serializers.IntegerField(
        source="target_stage_id", allow_null=True, help_text="The stage its effectiveness is measured on"
    )
    version = serializers.IntegerField(help_text="Send it back with PATCH (optimistic lock)")
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_condition_text(self, play) -> str:
        """The condition in words, stages and owners by name."""
        return self.context["condition_texts"][play.pk]


class PlayDetailOutputSerializer(PlayOutputSerializer):
    talk_track_html = serializers.SerializerMethodField()
    evaluation = PlayEvaluationRunOutputSerializer(
        allow_null=True, help_text="The latest re-evaluation run across the open deals, if any"
    )

    def get_talk_track_html(self, play) -> str:
        """The talk track rendered from Markdown and sanitized (safe to insert as HTML)."""
        return str(render_markdown(play.talk_track))


def play_detail_body(play: Play) -> dict:
    """The detail body: the play, its condition in words and its latest evaluation run (three queries
    at most beyond the play)."""
    play.evaluation = play_evaluation_latest(play=play)
    texts = condition_texts([play], play.organization_id)
    return PlayDetailOutputSerializer(play, context={"condition_texts": texts}).data


class PlayUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    condition = serializers.JSONField(required=False, help_text=CONDITION_HELP)
    talk_track = serializers.CharField(
        max_length=20000, required=False, allow_blank=True, help_text="Markdown"
    )
    priority = serializers.IntegerField(required=False, help_text="-1000 to 1000; higher shows first")
    active = serializers.BooleanField(required=False)
    target_stage = serializers.IntegerField(
        required=False, allow_null=True, help_text="A stage of the playbook's process, or null"
    )

    def validate(self, attrs):
        refuse_read_only(self.initial_data, {"id", "playbook", "organization", "created_at", "updated_at"})
        return attrs


class PlayCreateInputSerializer(PlayUpdateInputSerializer):
    name = serializers.CharField(max_length=200)
    condition = serializers.JSONField(help_text=CONDITION_HELP)


class PlayPatchInputSerializer(PlayUpdateInputSerializer):
    version = serializers.IntegerField(min_value=1, help_text="The version you read (optimistic lock)")


class PlayPagination(IdCursorPagination):
    """The order plays are shown in: highest priority first."""

    ordering = ("-priority", "name", "id")


class PlaybookScopedApi(ScopedObjectMixin, APIView):
    scoped_attr = "playbook"
    scoped_url_kwarg = "playbook_id"

    def get_scoped_queryset(self):
        return playbook_queryset(request_org(self.request))


@extend_schema(tags=["playbooks"])
class PlaybookPlaysApi(PlaybookScopedApi, generics.ListAPIView):
    """The playbook's plays, highest priority first, one cursor page at a time."""

    serializer_class = PlayOutputSerializer
    pagination_class = PlayPagination

    def get_queryset(self):
        return Play.objects.for_org(request_org(self.request)).filter(playbook=self.playbook)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.get_queryset())
        context = {"condition_texts": condition_texts(page, self.playbook.organization_id)}
        return self.get_paginated_response(PlayOutputSerializer(page, many=True, context=context).data)

    @extend_schema(
        request=PlayCreateInputSerializer,
        responses={
            201: PlayDetailOutputSerializer,
            400: OpenApiResponse(description="Invalid input: each bad part of the condition with its path"),
            403: NOT_ALLOWED,
        },
        description="Add a play (ops, admins). An active play is then evaluated against the open deals "
        "of its processes in the background: follow `evaluation.status_url`.",
    )
    def post(self, request, playbook_id: int):
        require_editor(request)
        data = PlayCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        play = play_create(playbook=self.playbook, by=request.membership, **data.validated_data)
        play = play_queryset(request_org(request)).get(pk=play.pk)
        return Response(play_detail_body(play), status=status.HTTP_201_CREATED)


class PlayScopedApi(ScopedObjectMixin, APIView):
    scoped_attr = "play"
    scoped_url_kwarg = "play_id"

    def get_scoped_queryset(self):
        return play_queryset(request_org(self.request))

    def reloaded_body(self) -> dict:
        play = play_queryset(request_org(self.request)).get(pk=self.play.pk)
        return play_detail_body(play)


@extend_schema(tags=["playbooks"])
class PlayDetailApi(PlayScopedApi):
    @extend_schema(responses=PlayDetailOutputSerializer)
    def get(self, request, play_id: int):
        return Response(play_detail_body(self.play))

    @extend_schema(
        request=PlayPatchInputSerializer,
        responses={
            200: PlayDetailOutputSerializer,
            400: OpenApiResponse(description="Invalid input: each bad part of the condition with its path"),
            403: NOT_ALLOWED,
            409: STALE,
        },
        description="Edit some fields (ops, admins); `version` is required and a stale one is a 409 "
        "with nothing written. A changed condition or active flag re-evaluates the play.",
    )
    def patch(self, request, play_id: int):
        require_editor(request)
        data = PlayPatchInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        expected_version = fields.pop("version")
        play_update(play=self.play, by=request.membership, expected_version=expected_version, **fields)
        return Response(self.reloaded_body())

    @extend_schema(
        responses={
            204: NO_CONTENT,
            400: OpenApiResponse(description="It has been attached to deals: deactivate it instead"),
            403: NOT_ALLOWED,
        },
        description="Delete a play never attached to a deal (ops, admins).",
    )
    def delete(self, request, play_id: int):
        require_editor(request)
        play_delete(play=self.play, by=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


class _PlaySwitchApi(PlayScopedApi):
    active: bool

    def post(self, request, play_id: int):
        require_editor(request)
        play_set_active(play=self.play, by=request.membership, active=self.active)
        return Response(self.reloaded_body())


@extend_schema(tags=["playbooks"])
class PlayActivateApi(_PlaySwitchApi):
    active = True

    @extend_schema(
        request=None,
        responses={200: PlayDetailOutputSerializer, 403: NOT_ALLOWED},
        description="Activate the play (ops, admins): it attaches where its condition holds, in the "
        "background. Not version-guarded; activating an active play changes nothing.",
    )
    def post(self, request, play_id: int):
        return super().post(request, play_id)


@extend_schema(tags=["playbooks"])
class PlayDeactivateApi(_PlaySwitchApi):
    active = False

    @extend_schema(
        request=None,
        responses={200: PlayDetailOutputSerializer, 403: NOT_ALLOWED},
        description="Deactivate the play (ops, admins): it detaches from every deal, in the background; "
        "its history stays.",
    )
    def post(self, request, play_id: int):
        return super().post(request, play_id)
