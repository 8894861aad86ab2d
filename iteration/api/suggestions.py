"""Suggestions over the API. Managers, ops and admins read them; ops and admins decide.

- `GET /api/processes/{process_id}/suggestions/?status=open|applied|dismissed` (default open).
- `POST /api/processes/{process_id}/suggestions/refresh/`: recompute now (ops, admins) → the counts.
- `GET /api/suggestions/{id}/`: one suggestion with its evidence.
- `POST /api/suggestions/{id}/apply/`: make the change through the services → 200 with the new process
  version (null when retiring a play, which is not part of the process); 400 for advice-only or already
  decided suggestions.
- `POST /api/suggestions/{id}/dismiss/` with `{"reason": "..."}` → 200; 400 without a reason."""

from django.urls import path
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from iteration.api.metrics import ProcessScopedApi
from iteration.models import Suggestion, SuggestionKind, SuggestionStatus
from iteration.suggestions import suggestion_apply, suggestion_dismiss, suggestions_refresh
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org
from salesproc.lib.errors import NotAllowed


def _require_analytics(request) -> None:
    if not request.membership.sees_analytics:
        raise PermissionDenied("Suggestions are for managers, ops and admins.")


class SuggestionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    process = serializers.IntegerField(source="process_id")
    kind = serializers.ChoiceField(choices=SuggestionKind.choices)
    title = serializers.CharField()
    stage = serializers.IntegerField(source="stage_id", allow_null=True)
    criterion = serializers.IntegerField(source="criterion_id", allow_null=True)
    evidence = serializers.JSONField(help_text="Numbers, sample sizes and intervals; `summary` in words")
    change = serializers.JSONField(help_text="What applying sets; empty for advice")
    status = serializers.ChoiceField(choices=SuggestionStatus.choices)
    dismiss_reason = serializers.CharField()
    decided_by = serializers.IntegerField(source="decided_by_id", allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    applied_version = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_applied_version(self, suggestion) -> int | None:
        """The number of the process version applying it created."""
        version = suggestion.applied_version
        return version.number if version is not None else None


def _suggestions(org):
    return Suggestion.objects.for_org(org).select_related("applied_version")


class StatusQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=SuggestionStatus.choices, default=SuggestionStatus.OPEN)


@extend_schema(tags=["suggestions"])
class ProcessSuggestionsApi(ProcessScopedApi):
    """The process's suggestions, newest first."""

    @extend_schema(
        parameters=[OpenApiParameter("status", OpenApiTypes.STR, enum=SuggestionStatus.values)],
        responses={200: SuggestionOutputSerializer(many=True)},
    )
    def get(self, request, process_id: int):
        _require_analytics(request)
        query = StatusQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        rows = _suggestions(request_org(request)).filter(
            process=self.process, status=query.validated_data["status"]
        )
        return Response(SuggestionOutputSerializer(rows, many=True).data)


@extend_schema(tags=["suggestions"])
class ProcessSuggestionsRefreshApi(ProcessScopedApi):
    """Recompute the process's suggestions now (the nightly job does it too)."""

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "SuggestionRefresh",
                {
                    "created": serializers.IntegerField(),
                    "updated": serializers.IntegerField(),
                    "withdrawn": serializers.IntegerField(),
                },
            )
        },
    )
    def post(self, request, process_id: int):
        if not request.membership.can_edit_process:
            raise NotAllowed("Only ops and admins refresh the suggestions.")
        result = suggestions_refresh(process=self.process)
        return Response({"created": result.created, "updated": result.updated, "withdrawn": result.withdrawn})


class SuggestionScopedApi(ScopedObjectMixin, APIView):
    scoped_attr = "suggestion"
    scoped_url_kwarg = "suggestion_id"

    def get_scoped_queryset(self):
        return _suggestions(request_org(self.request))


@extend_schema(tags=["suggestions"])
class SuggestionDetailApi(SuggestionScopedApi):
    @extend_schema(responses={200: SuggestionOutputSerializer})
    def get(self, request, suggestion_id: int):
        _require_analytics(request)
        return Response(SuggestionOutputSerializer(self.suggestion).data)


@extend_schema(tags=["suggestions"])
class SuggestionApplyApi(SuggestionScopedApi):
    """Apply: the change goes through the process services and creates a process version whose note
    names the suggestion."""

    @extend_schema(
        request=None,
        responses={
            200: inline_serializer(
                "SuggestionApplied",
                {
                    "suggestion": SuggestionOutputSerializer(),
                    "version": inline_serializer(
                        "AppliedVersion",
                        {
                            "id": serializers.IntegerField(),
                            "number": serializers.IntegerField(),
                            "note": serializers.CharField(),
                        },
                        allow_null=True,
                    ),
                },
            )
        },
    )
    def post(self, request, suggestion_id: int):
        version = suggestion_apply(suggestion=self.suggestion, by=request.membership)
        suggestion = _suggestions(request_org(request)).get(pk=self.suggestion.pk)
        return Response(
            {
                "suggestion": SuggestionOutputSerializer(suggestion).data,
                "version": (
                    None
                    if version is None
                    else {"id": version.id, "number": version.number, "note": version.note}
                ),
            }
        )


class DismissInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="Why the team does not follow it")


@extend_schema(tags=["suggestions"])
class SuggestionDismissApi(SuggestionScopedApi):
    @extend_schema(request=DismissInputSerializer, responses={200: SuggestionOutputSerializer})
    def post(self, request, suggestion_id: int):
        if not request.membership.can_edit_process:
            raise NotAllowed("Only ops and admins decide on suggestions.")
        data = DismissInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        suggestion = suggestion_dismiss(
            suggestion=self.suggestion, by=request.membership, reason=data.validated_data["reason"]
        )
        return Response(SuggestionOutputSerializer(suggestion).data)


urlpatterns = [
    path(
        "processes/<int:process_id>/suggestions/", ProcessSuggestionsApi.as_view(), name="process_suggestions"
    ),
    path(
        "processes/<int:process_id>/suggestions/refresh/",
        ProcessSuggestionsRefreshApi.as_view(),
        name="process_suggestions_refresh",
    ),
    path("suggestions/<int:suggestion_id>/", SuggestionDetailApi.as_view(), name="suggestion_detail"),
    path("suggestions/<int:suggestion_id>/apply/", SuggestionApplyApi.as_view(), name="suggestion_apply"),
    path(
        "suggestions/<int:suggestion_id>/dismiss/", SuggestionDismissApi.as_view(), name="suggestion_dismiss"
    ),
]
