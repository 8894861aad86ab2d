"""API for imports; routes join /api/ under the api namespace.

`POST /api/processes/{process_id}/history-imports/` takes the two CSV files of a history import
(multipart: `deals` and `history`) and answers 202 with the import's id and status URL; the import
runs in the worker. `GET /api/history-imports/{import_id}/` follows it: status, progress, the problems
found (file, line, column, message) or the counts. Ops and admins only; the process or import named in
the URL is looked up in the caller's organization first, so another organization's id is a 404."""

from django.urls import path, reverse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.serializers import ErrorSerializer
from iteration.history_import import MAX_FILE_BYTES, history_import_start
from iteration.models import HistoryImport, JobStatus
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org
from salesproc.lib.errors import NotAllowed
from salesproc.models import Process

NOT_ALLOWED = OpenApiResponse(ErrorSerializer, description="Only ops and admins import history")


def _require_ops(request) -> None:
    if not request.membership.can_edit_process:
        raise NotAllowed("Only ops and admins import history.")


class HistoryImportInputSerializer(serializers.Serializer):
    deals = serializers.FileField(
        help_text="CSV: external_id,name,account,industry,owner_email,amount,currency,created_at,status,"
        "closed_at,lost_reason,competitors,objections"
    )
    history = serializers.FileField(help_text="CSV: external_id,stage,entered_at")

    def validate(self, attrs):
        errors = {
            name: [f"The file is too large ({upload.size:,} bytes); at most {MAX_FILE_BYTES // 2**20} MB."]
            for name, upload in attrs.items()
            if upload.size > MAX_FILE_BYTES
        }
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class HistoryImportStartedSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField(help_text="queued, running, succeeded or failed")
    status_url = serializers.URLField(help_text="GET it to follow the import")


class HistoryImportProblemSerializer(serializers.Serializer):
    file = serializers.CharField(help_text="The file's name as uploaded")
    line = serializers.IntegerField(help_text="1 is the header line")
    column = serializers.CharField(help_text='The column\'s name, or "" for the whole row or file')
    message = serializers.CharField()


class HistoryImportResultSerializer(serializers.Serializer):
    deals_created = serializers.IntegerField()
    deals_updated = serializers.IntegerField()
    deals_unchanged = serializers.IntegerField()
    history_rows = serializers.IntegerField(help_text="Stage entries written")
    members_created = serializers.IntegerField(help_text="Owners added as inactive members")
    users_created = serializers.IntegerField()
    accounts_created = serializers.IntegerField()


class HistoryImportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    process = serializers.IntegerField(source="process_id")
    status = serializers.CharField(help_text="queued, running, succeeded or failed")
    progress = serializers.IntegerField(help_text="0–100")
    phase = serializers.CharField(help_text="What the import is doing")
    deals_filename = serializers.CharField()
    history_filename = serializers.CharField()
    errors = HistoryImportProblemSerializer(many=True, help_text="When failed: at most 100 problems")
    errors_truncated = serializers.SerializerMethodField(help_text="More problems were found than listed")
    result = HistoryImportResultSerializer(
        allow_null=True, help_text="When succeeded: the counts", source="succeeded_result"
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_errors_truncated(self, job: HistoryImport) -> bool:
        return bool((job.result or {}).get("errors_truncated"))


@extend_schema(tags=["imports"])
class HistoryImportCreateApi(ScopedObjectMixin, APIView):
    """Start a history import into the process: the deals file and the stage history file (CSV, see
    `import_history`). The files are checked by the import; follow it at `status_url`."""

    scoped_attr = "process"
    scoped_url_kwarg = "process_id"
    parser_classes = [MultiPartParser, FormParser]

    def get_scoped_queryset(self):
        return Process.objects.for_org(request_org(self.request))

    @extend_schema(
        request={"multipart/form-data": HistoryImportInputSerializer},
        responses={
            202: OpenApiResponse(HistoryImportStartedSerializer, description="Queued"),
            400: OpenApiResponse(description="A file is missing or too large"),
            403: NOT_ALLOWED,
        },
    )
    def post(self, request, process_id: int):
        _require_ops(request)
        serializer = HistoryImportInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        deals, history = serializer.validated_data["deals"], serializer.validated_data["history"]
        job = history_import_start(
            organization=request_org(request),
            process=self.process,
            by=request.membership,
            deals_file=deals.read(),
            history_file=history.read(),
            deals_filename=deals.name,
            history_filename=history.name,
        )
        job.refresh_from_db(fields=["status"])
        url = request.build_absolute_uri(reverse("api:history_import_detail", args=[job.id]))
        body = HistoryImportStartedSerializer({"id": job.id, "status": job.status, "status_url": url}).data
        return Response(body, status=status.HTTP_202_ACCEPTED, headers={"Location": url})


@extend_schema(tags=["imports"])
class HistoryImportDetailApi(ScopedObjectMixin, APIView):
    """One history import: its status and progress while it runs, then the counts (succeeded) or the
    problems found in the files (failed: nothing was imported)."""

    scoped_attr = "history_import"
    scoped_url_kwarg = "import_id"

    def get_scoped_queryset(self):
        return HistoryImport.objects.for_org(request_org(self.request)).defer("deals_data", "history_data")

    @extend_schema(responses={200: HistoryImportOutputSerializer, 403: NOT_ALLOWED})
    def get(self, request, import_id: int):
        _require_ops(request)
        job = self.history_import
        job.succeeded_result = job.result if job.status == JobStatus.SUCCEEDED else None
        return Response(HistoryImportOutputSerializer(job).data)


urlpatterns = [
    path(
        "processes/<int:process_id>/history-imports/",
        HistoryImportCreateApi.as_view(),
        name="history_import_create",
    ),
    path("history-imports/<int:import_id>/", HistoryImportDetailApi.as_view(), name="history_import_detail"),
]
