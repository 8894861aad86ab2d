"""The process definition over the API: read-only lists and details, and the JSON import for ops.

Edits go through salesproc.services like the process pages do; the API offers only the file import,
so every change still records a ProcessVersion."""

from django.db.models import Prefetch
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from salesproc.lib.api_scoping import ScopedObjectMixin, request_org
from salesproc.models import CriterionKind, ExitCriterion, Importance, Phase, Process, Stage
from salesproc.services import process_import


class ExitCriterionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=CriterionKind.choices)
    label = serializers.CharField()
    importance = serializers.ChoiceField(choices=Importance.choices)
    order = serializers.IntegerField()
    field_name = serializers.CharField(help_text="kind=field: the deal field that must be filled")
    role = serializers.CharField(help_text="kind=stakeholder_role: the stakeholder role required")
    activity_kind = serializers.CharField(help_text="kind=activity_kind: the activity to log in the stage")
    question = serializers.CharField(help_text="kind=answer: the question the rep answers")
    description = serializers.CharField()


class StageOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    order = serializers.IntegerField()
    phase = serializers.ChoiceField(choices=Phase.choices)
    probability = serializers.IntegerField()
    expected_days = serializers.IntegerField(allow_null=True, help_text="The stall threshold, in days")
    guidance = serializers.CharField()
    criteria = ExitCriterionOutputSerializer(many=True, help_text="Exit criteria, in order")


class ProcessOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    is_active = serializers.BooleanField()
    current_version = serializers.IntegerField(
        source="current_version.number", allow_null=True, default=None, help_text="ProcessVersion number"
    )
    created_at = serializers.DateTimeField()


class ProcessDetailOutputSerializer(ProcessOutputSerializer):
    stages = StageOutputSerializer(many=True)


def process_detail_queryset(org):
    """The org's processes with their version, stages and criteria: three queries for any size."""
    return (
        Process.objects.for_org(org)
        .select_related("current_version")
        .prefetch_related(
            Prefetch(
                "stages",
                queryset=Stage.objects.order_by("order").prefetch_related(
                    Prefetch("criteria", queryset=ExitCriterion.objects.order_by("order", "id"))
                ),
            )
        )
    )


@extend_schema(tags=["processes"])
class ProcessListApi(generics.ListAPIView):
    """The organization's processes, newest first."""

    serializer_class = ProcessOutputSerializer

    def get_queryset(self):
        return Process.objects.for_org(request_org(self.request)).select_related("current_version")


@extend_schema(tags=["processes"])
class ProcessDetailApi(ScopedObjectMixin, APIView):
    """One process with its stages in order and each stage's exit criteria."""

    scoped_attr = "process"
    scoped_url_kwarg = "process_id"

    def get_scoped_queryset(self):
        return process_detail_queryset(request_org(self.request))

    @extend_schema(responses=ProcessDetailOutputSerializer)
    def get(self, request, process_id: int):
        return Response(ProcessDetailOutputSerializer(self.process).data)


class ProcessFileCriterionSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=CriterionKind.choices)
    label = serializers.CharField()
    importance = serializers.ChoiceField(choices=Importance.choices, required=False)
    field_name = serializers.CharField(required=False)
    role = serializers.CharField(required=False)
    activity_kind = serializers.CharField(required=False)
    question = serializers.CharField(required=False)
    description = serializers.CharField(required=False)


class ProcessFileStageSerializer(serializers.Serializer):
    name = serializers.CharField()
    phase = serializers.ChoiceField(choices=Phase.choices)
    probability = serializers.IntegerField(min_value=0, max_value=100)
    expected_days = serializers.IntegerField(allow_null=True)
    guidance = serializers.CharField(required=False)
    criteria = ProcessFileCriterionSerializer(many=True, required=False)


class ProcessFileSerializer(serializers.Serializer):
    """The process file format of `export_process` / `import_process` (documentation only: the body is
    validated by salesproc.process_schema, whose errors name the path of each problem)."""

    name = serializers.CharField()
    description = serializers.CharField(required=False)
    stages = ProcessFileStageSerializer(many=True)


class ProcessImportOutputSerializer(serializers.Serializer):
    process = ProcessDetailOutputSerializer()
    version = serializers.IntegerField(
        allow_null=True, help_text="The new ProcessVersion number; null when the file changed nothing"
    )
    changes = serializers.ListField(child=serializers.CharField())


class ProcessImportErrorSerializer(serializers.Serializer):
    file = serializers.ListField(
        child=serializers.CharField(), help_text='Each problem with its path, e.g. "stages[2].phase: ..."'
    )


@extend_schema(tags=["processes"])
class ProcessImportApi(APIView):
    """Create or update the process named in the body (the process file format). Ops and admins only;
    all or nothing."""

    @extend_schema(
        request=ProcessFileSerializer,
        responses={
            201: OpenApiResponse(ProcessImportOutputSerializer, description="A new process was created"),
            200: OpenApiResponse(
                ProcessImportOutputSerializer, description="An existing process was updated"
            ),
            400: OpenApiResponse(ProcessImportErrorSerializer, description="The file is invalid"),
        },
    )
    def post(self, request):
        org = request_org(request)
        process, version = process_import(org=org, data=request.data, by=request.membership)
        detail = process_detail_queryset(org).get(pk=process.pk)
        body = ProcessImportOutputSerializer(
            {
                "process": detail,
                "version": version.number if version else None,
                "changes": version.changes if version else [],
            }
        ).data
        # A process's first version is recorded by the import that creates it, and only then.
        created = version is not None and version.number == 1
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)
