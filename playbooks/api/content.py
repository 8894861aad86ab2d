"""What a play carries, over the API: its questions, resources (links, or files uploaded as multipart)
and steps. Lists live under the play (/api/plays/{play_id}/questions|resources|steps/) and are the
whole, ordered set (a play has a handful; the order endpoints need every id anyway); single rows have
their own URL for edits. Every member reads; ops and admins write.

Resources have no edit and no reorder: the services offer neither (delete and add again)."""

import os

from django.http import FileResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from playbooks.api.common import (
    NO_CONTENT,
    NOT_ALLOWED,
    play_step_queryset,
    question_queryset,
    refuse_read_only,
    renamed_errors,
    require_editor,
    resource_queryset,
)
from playbooks.api.plays import PlayScopedApi
from playbooks.services import (
    MAX_RESOURCE_BYTES,
    play_question_add,
    play_question_delete,
    play_question_reorder,
    play_question_update,
    play_resource_add,
    play_resource_delete,
    play_step_add,
    play_step_delete,
    play_step_reorder,
    play_step_update,
)
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org
from salesproc.lib.errors import InvalidInput

READ_ONLY_CHILD_FIELDS = {"id", "play", "organization", "order"}


class OrderInputSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(), max_length=1000, help_text="Every id of the play's list, once"
    )


# ---------------------------------------------------------------------------------------------------
# Questions


class QuestionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    play = serializers.IntegerField(source="play_id")
    text = serializers.CharField()
    order = serializers.IntegerField()


class QuestionInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=300)

    def validate(self, attrs):
        refuse_read_only(self.initial_data, READ_ONLY_CHILD_FIELDS)
        return attrs


@extend_schema(tags=["playbooks"])
class PlayQuestionsApi(PlayScopedApi, generics.ListAPIView):
    """The questions the rep should ask when the play is attached, in order."""

    serializer_class = QuestionOutputSerializer
    pagination_class = None

    def get_queryset(self):
        return question_queryset(request_org(self.request)).filter(play=self.play).order_by("order", "id")

    @extend_schema(
        request=QuestionInputSerializer,
        responses={201: QuestionOutputSerializer, 403: NOT_ALLOWED},
        description="Add a question after the others (ops, admins).",
    )
    def post(self, request, play_id: int):
        require_editor(request)
        data = QuestionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question = play_question_add(play=self.play, by=request.membership, **data.validated_data)
        return Response(QuestionOutputSerializer(question).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["playbooks"])
class PlayQuestionsOrderApi(PlayScopedApi):
    @extend_schema(
        request=OrderInputSerializer,
        responses={200: QuestionOutputSerializer(many=True), 403: NOT_ALLOWED},
        description="Put the play's questions in this order (ops, admins): every question id once, or "
        "a 400 on `ids`.",
    )
    def post(self, request, play_id: int):
        require_editor(request)
        data = OrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            play_question_reorder(
                play=self.play, by=request.membership, question_ids=data.validated_data["ids"]
            )
        except InvalidInput as exc:
            raise renamed_errors(exc, "question_ids", "ids") from None
        rows = question_queryset(request_org(request)).filter(play=self.play).order_by("order", "id")
        return Response(QuestionOutputSerializer(rows, many=True).data)


@extend_schema(tags=["playbooks"])
class PlayQuestionDetailApi(ScopedObjectMixin, APIView):
    scoped_attr = "question"
    scoped_url_kwarg = "question_id"

    def get_scoped_queryset(self):
        return question_queryset(request_org(self.request))

    @extend_schema(responses=QuestionOutputSerializer)
    def get(self, request, question_id: int):
        return Response(QuestionOutputSerializer(self.question).data)

    @extend_schema(
        request=QuestionInputSerializer,
        responses={200: QuestionOutputSerializer, 403: NOT_ALLOWED},
        description="Reword the question (ops, admins); deals' answers stay with it.",
    )
    def patch(self, request, question_id: int):
        require_editor(request)
        data = QuestionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        question = play_question_update(question=self.question, by=request.membership, **data.validated_data)
        return Response(QuestionOutputSerializer(question).data)

    @extend_schema(
        responses={
            204: NO_CONTENT,
            400: OpenApiResponse(description="Deals have answered it: reword it instead"),
            403: NOT_ALLOWED,
        },
        description="Delete a question no deal has answered (ops, admins).",
    )
    def delete(self, request, question_id: int):
        require_editor(request)
        play_question_delete(question=self.question, by=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


# ---------------------------------------------------------------------------------------------------
# Resources


class ResourceOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    play = serializers.IntegerField(source="play_id")
    title = serializers.CharField()
    kind = serializers.SerializerMethodField()
    url = serializers.CharField(help_text="The link; empty for a file")
    file_name = serializers.SerializerMethodField()
    file_url = serializers.SerializerMethodField()
    order = serializers.IntegerField()

    def get_kind(self, resource) -> str:
        """`link` or `file`."""
        return "file" if resource.file else "link"

    def get_file_name(self, resource) -> str | None:
        return os.path.basename(resource.file.name) if resource.file else None

    def get_file_url(self, resource) -> str | None:
        """Where to download the file (members of the organization only); null for a link."""
        return reverse("api:play_resource_file", args=[resource.id]) if resource.file else None


class ResourceInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200)
    url = serializers.CharField(
        max_length=500, required=False, allow_blank=True, help_text="An http(s) link, or…"
    )
    file = serializers.FileField(
        required=False,
        allow_empty_file=True,  # the service says "The file is empty." under `file`
        help_text=f"…a file (multipart), at most {MAX_RESOURCE_BYTES // 2**20} MB",
    )

    def validate(self, attrs):
        refuse_read_only(self.initial_data, READ_ONLY_CHILD_FIELDS)
        return attrs


@extend_schema(tags=["playbooks"])
class PlayResourcesApi(PlayScopedApi, generics.ListAPIView):
    """Links and files that help run the play, in order."""

    serializer_class = ResourceOutputSerializer
    pagination_class = None
    parser_classes = [JSONParser, MultiPartParser, FormParser]

    def get_queryset(self):
        return resource_queryset(request_org(self.request)).filter(play=self.play).order_by("order", "id")

    @extend_schema(
        request={
            "application/json": ResourceInputSerializer,
            "multipart/form-data": ResourceInputSerializer,
        },
        responses={201: ResourceOutputSerializer, 403: NOT_ALLOWED},
        description="Add a link (JSON `{title, url}`) or a file (multipart `title` and `file`): exactly "
        "one of the two (ops, admins).",
    )
    def post(self, request, play_id: int):
        require_editor(request)
        data = ResourceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        resource = play_resource_add(play=self.play, by=request.membership, **data.validated_data)
        return Response(ResourceOutputSerializer(resource).data, status=status.HTTP_201_CREATED)


class PlayResourceScopedApi(ScopedObjectMixin, APIView):
    scoped_attr = "resource"
    scoped_url_kwarg = "resource_id"

    def get_scoped_queryset(self):
        return resource_queryset(request_org(self.request))


@extend_schema(tags=["playbooks"])
class PlayResourceDetailApi(PlayResourceScopedApi):
    @extend_schema(responses=ResourceOutputSerializer)
    def get(self, request, resource_id: int):
        return Response(ResourceOutputSerializer(self.resource).data)

    @extend_schema(
        responses={204: NO_CONTENT, 403: NOT_ALLOWED},
        description="Remove the resource (ops, admins); its file is deleted from storage.",
    )
    def delete(self, request, resource_id: int):
        require_editor(request)
        play_resource_delete(resource=self.resource, by=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema(tags=["playbooks"])
class PlayResourceFileApi(PlayResourceScopedApi):
    """The uploaded file, as an attachment: files are served only to members of the organization (never
    from a public media URL), and never rendered inline."""

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            404: OpenApiResponse(description="No such resource, or it is a link"),
        }
    )
    def get(self, request, resource_id: int):
        if not self.resource.file:
            return Response({"detail": "This resource is a link."}, status=status.HTTP_404_NOT_FOUND)
        try:
            handle = self.resource.file.open("rb")
        except FileNotFoundError:
            # The row outlived its file (restored database, storage cleaned by hand): gone, not a 500.
            return Response({"detail": "The file is missing."}, status=status.HTTP_404_NOT_FOUND)
        return FileResponse(
            handle,
            as_attachment=True,
            filename=os.path.basename(self.resource.file.name),
            content_type="application/octet-stream",
        )


# ---------------------------------------------------------------------------------------------------
# Steps


class PlayStepOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    play = serializers.IntegerField(source="play_id")
    title = serializers.CharField()
    description = serializers.CharField()
    stage = serializers.IntegerField(
        source="stage_id", allow_null=True, help_text="Due in this stage; null: in whatever stage"
    )
    order = serializers.IntegerField()


class PlayStepUpdateInputSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    stage = serializers.IntegerField(
        required=False, allow_null=True, help_text="A stage of the playbook's process, or null"
    )

    def validate(self, attrs):
        refuse_read_only(self.initial_data, READ_ONLY_CHILD_FIELDS)
        return attrs


class PlayStepCreateInputSerializer(PlayStepUpdateInputSerializer):
    title = serializers.CharField(max_length=200)


@extend_schema(tags=["playbooks"])
class PlayStepsApi(PlayScopedApi, generics.ListAPIView):
    """The steps the play adds to the plan of the deals it is attached to, in order."""

    serializer_class = PlayStepOutputSerializer
    pagination_class = None

    def get_queryset(self):
        return play_step_queryset(request_org(self.request)).filter(play=self.play).order_by("order", "id")

    @extend_schema(
        request=PlayStepCreateInputSerializer,
        responses={201: PlayStepOutputSerializer, 403: NOT_ALLOWED},
        description="Add a step after the others (ops, admins); the deals the play is attached to get it "
        "too, in the background.",
    )
    def post(self, request, play_id: int):
        require_editor(request)
        data = PlayStepCreateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        step = play_step_add(play=self.play, by=request.membership, **data.validated_data)
        return Response(PlayStepOutputSerializer(step).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["playbooks"])
class PlayStepsOrderApi(PlayScopedApi):
    @extend_schema(
        request=OrderInputSerializer,
        responses={200: PlayStepOutputSerializer(many=True), 403: NOT_ALLOWED},
        description="Put the play's steps in this order (ops, admins): every step id once, or a 400 on "
        "`ids`. Plans that already have the steps keep their own order.",
    )
    def post(self, request, play_id: int):
        require_editor(request)
        data = OrderInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        try:
            play_step_reorder(play=self.play, by=request.membership, step_ids=data.validated_data["ids"])
        except InvalidInput as exc:
            raise renamed_errors(exc, "step_ids", "ids") from None
        rows = play_step_queryset(request_org(request)).filter(play=self.play).order_by("order", "id")
        return Response(PlayStepOutputSerializer(rows, many=True).data)


@extend_schema(tags=["playbooks"])
class PlayStepDetailApi(ScopedObjectMixin, APIView):
    scoped_attr = "play_step"
    scoped_url_kwarg = "play_step_id"

    def get_scoped_queryset(self):
        return play_step_queryset(request_org(self.request))

    @extend_schema(responses=PlayStepOutputSerializer)
    def get(self, request, play_step_id: int):
        return Response(PlayStepOutputSerializer(self.play_step).data)

    @extend_schema(
        request=PlayStepUpdateInputSerializer,
        responses={200: PlayStepOutputSerializer, 403: NOT_ALLOWED},
        description="Edit the step (ops, admins); the open plan lines made from it follow, completed "
        "ones keep what was done.",
    )
    def patch(self, request, play_step_id: int):
        require_editor(request)
        data = PlayStepUpdateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        step = play_step_update(step=self.play_step, by=request.membership, **data.validated_data)
        return Response(PlayStepOutputSerializer(step).data)

    @extend_schema(
        responses={204: NO_CONTENT, 403: NOT_ALLOWED},
        description="Delete the step (ops, admins): it leaves the plans where it is still open; completed "
        "plan lines stay.",
    )
    def delete(self, request, play_step_id: int):
        require_editor(request)
        play_step_delete(step=self.play_step, by=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)
