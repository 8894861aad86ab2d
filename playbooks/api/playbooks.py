"""Playbooks over the API: the organization's playbooks with how many plays each has; create, read,
edit and delete one. Every member reads; ops and admins write (a 403 otherwise)."""

from django.db.models import Count, Q
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.serializers import UserRefSerializer
from orgs.models import Membership
from playbooks.api.common import (
    NO_CONTENT,
    NOT_ALLOWED,
    playbook_queryset,
    refuse_read_only,
    require_editor,
)
from playbooks.services import playbook_create, playbook_delete, playbook_update
from salesproc.lib.api_pagination import IdCursorPagination
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org


class PlaybookOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    process = serializers.IntegerField(
        source="process_id", allow_null=True, help_text="Null: the playbook applies to every process"
    )
    active = serializers.BooleanField()
    owner = UserRefSerializer(source="owner.user", allow_null=True, default=None)
    plays_count = serializers.IntegerField(help_text="Plays in the playbook, active or not")
    active_plays_count = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class OrgMemberField(serializers.IntegerField):
    """A user id of a member of the request's organization, given to the services as the Membership.
    Another organization's user answers like an unknown one."""

    default_error_messages = {"unknown": "No member of your organization has that id."}

    def to_internal_value(self, data):
        user_id = super().to_internal_value(data)
        member = (
            Membership.objects.filter(organization=request_org(self.context["request"]), user_id=user_id)
            .select_related("user")
            .first()
        )
        if member is None:
            self.fail("unknown")
        return member


class PlaybookUpdateInputSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=5000, required=False, allow_blank=True)
    process = serializers.IntegerField(
        required=False, allow_null=True, help_text="A process id; null: every process of the organization"
    )
    active = serializers.BooleanField(required=False)
    owner = OrgMemberField(required=False, allow_null=True, help_text="User id of the member who owns it")

    def validate(self, attrs):
        refuse_read_only(self.initial_data, {"id", "organization", "created_at", "updated_at"})
        return attrs


class PlaybookCreateInputSerializer(PlaybookUpdateInputSerializer):
    name = serializers.CharField(max_length=120)


def playbooks_with_counts(org):
    """The org's playbooks with their plays counted in the same query (one GROUP BY)."""
    return playbook_queryset(org).annotate(
        plays_count=Count("plays", distinct=True),
        active_plays_count=Count("plays", filter=Q(plays__active=True), distinct=True),
    )


class PlaybookPagination(IdCursorPagination):
    ordering = ("name", "id")


@extend_schema(tags=["playbooks"])
class PlaybookListCreateApi(generics.ListAPIView):
    """The organization's playbooks by name, one cursor page at a time."""

    serializer_class = PlaybookOutputSerializer
    pagination_class = PlaybookPagination

    def get_queryset(self):
        return playbooks_with_counts(request_org(self.request))

    @extend_schema(
        request=PlaybookCreateInputSerializer,
        responses={201: PlaybookOutputSerializer, 403: NOT_ALLOWED},
        description="Create a playbook (ops, admins). Its owner defaults to you.",
    )
    def post(self, request):
        require_editor(request)
        data = PlaybookCreateInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        playbook = playbook_create(org=request_org(request), by=request.membership, **data.validated_data)
        playbook = playbooks_with_counts(request_org(request)).get(pk=playbook.pk)
        return Response(PlaybookOutputSerializer(playbook).data, status=status.HTTP_201_CREATED)


@extend_schema(tags=["playbooks"])
class PlaybookDetailApi(ScopedObjectMixin, APIView):
    scoped_attr = "playbook"
    scoped_url_kwarg = "playbook_id"

    def get_scoped_queryset(self):
        return playbooks_with_counts(request_org(self.request))

    @extend_schema(responses=PlaybookOutputSerializer)
    def get(self, request, playbook_id: int):
        return Response(PlaybookOutputSerializer(self.playbook).data)

    @extend_schema(
        request=PlaybookUpdateInputSerializer,
        responses={200: PlaybookOutputSerializer, 403: NOT_ALLOWED},
        description="Edit some fields (ops, admins). Activating, deactivating or moving the playbook to "
        "another process re-evaluates its plays across the open deals, in the background.",
    )
    def patch(self, request, playbook_id: int):
        require_editor(request)
        data = PlaybookUpdateInputSerializer(data=request.data, context={"request": request})
        data.is_valid(raise_exception=True)
        playbook_update(playbook=self.playbook, by=request.membership, **data.validated_data)
        playbook = playbooks_with_counts(request_org(request)).get(pk=self.playbook.pk)
        return Response(PlaybookOutputSerializer(playbook).data)

    @extend_schema(
        responses={
            204: NO_CONTENT,
            400: OpenApiResponse(description="Its plays have been attached to deals: deactivate it"),
            403: NOT_ALLOWED,
        },
        description="Delete a playbook whose plays were never attached to a deal (ops, admins).",
    )
    def delete(self, request, playbook_id: int):
        require_editor(request)
        playbook_delete(playbook=self.playbook, by=request.membership)
        return Response(status=status.HTTP_204_NO_CONTENT)
