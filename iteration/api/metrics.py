"""Process metrics over the API (managers, ops and admins).

- `GET /api/processes/{process_id}/metrics/`: the last snapshot (the body `compute_metrics --format json`
  prints). With any filter (`from`, `to`, `version`, `owner`, `team`, `industry`, `amount_min`,
  `amount_max`) the numbers are computed live for that cohort; without a snapshot, live too.
- `GET /api/processes/{process_id}/metrics/versions/{version_id}/`: the snapshot's numbers for deals
  that entered each stage under that process version (its id, as in the process's version list).
- `POST /api/processes/{process_id}/metrics/refresh/`: queue a refresh (ops, admins) → 202 with the run.
- `GET /api/processes/{process_id}/compare/?a=N&b=M` or `?split=TIME`: version comparison.
- `GET /api/metric-runs/{run_id}/`: a run's status and progress."""

from django.urls import path, reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from iteration.compare import compare_split, compare_versions
from iteration.metrics import MetricFilters, process_metrics
from iteration.models import JobStatus, MetricRun, MetricSnapshot
from iteration.snapshots import metric_run_request
from orgs.models import Membership
from orgs.selectors import team_user_ids
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import Process, ProcessVersion


def _require_analytics(request) -> None:
    if not request.membership.sees_analytics:
        raise PermissionDenied("Metrics are for managers, ops and admins.")


class MetricFilterSerializer(serializers.Serializer):
    """The cohort filters of a live computation; each bad value is a 400 naming its parameter."""

    from_ = serializers.DateTimeField(required=False, help_text="First stage entry at or after (ISO 8601)")
    to = serializers.DateTimeField(required=False, help_text="First stage entry before (ISO 8601)")
    version = serializers.IntegerField(required=False, min_value=1, help_text="Process version number")
    owner = serializers.IntegerField(required=False, min_value=1, help_text="The owner's user id")
    team = serializers.IntegerField(
        required=False, min_value=1, help_text="A manager's user id: their deals and their team's"
    )
    industry = serializers.CharField(required=False, max_length=80)
    amount_min = serializers.DecimalField(required=False, max_digits=14, decimal_places=2)
    amount_max = serializers.DecimalField(required=False, max_digits=14, decimal_places=2)

    def get_fields(self):
        fields = super().get_fields()
        # `from` is a Python keyword: the parameter is `from`, the field `from_`.
        fields["from"] = fields.pop("from_")
        return fields

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["from"] >= attrs["to"]:
            raise serializers.ValidationError({"to": ["Must be after from."]})
        low, high = attrs.get("amount_min"), attrs.get("amount_max")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError({"amount_max": ["Must be at least amount_min."]})
        return attrs


FILTER_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATETIME, description="First stage entry at or after"),
    OpenApiParameter("to", OpenApiTypes.DATETIME, description="First stage entry before"),
    OpenApiParameter("version", OpenApiTypes.INT, description="Entries under this process version number"),
    OpenApiParameter("owner", OpenApiTypes.INT, description="The owner's user id"),
    OpenApiParameter("team", OpenApiTypes.INT, description="A manager's user id: their team's deals"),
    OpenApiParameter("industry", OpenApiTypes.STR, description="Exact industry"),
    OpenApiParameter("amount_min", OpenApiTypes.NUMBER, description="Amount at least"),
    OpenApiParameter("amount_max", OpenApiTypes.NUMBER, description="Amount at most"),
]


def metric_filters(org, params) -> MetricFilters | None:
    """The MetricFilters the query string asks for, None when it asks for none. Raises a 400 (DRF's
    ValidationError) naming a bad parameter."""
    keys = {"from", "to", "version", "owner", "team", "industry", "amount_min", "amount_max"}
    if not keys & set(params):
        return None
    serializer = MetricFilterSerializer(data={k: params[k] for k in keys if k in params})
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    owner_user_ids: set[int] | None = None
    if "owner" in data:
        owner_user_ids = {data["owner"]}
    if "team" in data:
        manager = Membership.objects.filter(organization=org, user_id=data["team"]).first()
        if manager is None:
            raise serializers.ValidationError({"team": ["No member of your organization has that id."]})
        team = team_user_ids(manager)
        owner_user_ids = team if owner_user_ids is None else owner_user_ids & team
    owner_ids = None
    if owner_user_ids is not None:
        owner_ids = list(
            Membership.objects.filter(organization=org, user_id__in=owner_user_ids).values_list(
                "id", flat=True
            )
        )
    return MetricFilters(
        entered_from=data.get("from"),
        entered_to=data.get("to"),
        process_version=data.get("version"),
        owner_ids=owner_ids,
        industry=data.get("industry"),
        amount_min=data.get("amount_min"),
        amount_max=data.get("amount_max"),
    )


class ProcessScopedApi(ScopedObjectMixin, APIView):
    scoped_attr = "process"
    scoped_url_kwarg = "process_id"

    def get_scoped_queryset(self):
        return Process.objects.for_org(request_org(self.request))


@extend_schema(tags=["metrics"])
class ProcessMetricsApi(ProcessScopedApi):
    """A process's funnel metrics per stage and its summary (definitions in docs/metrics.md)."""

    @extend_schema(parameters=FILTER_PARAMETERS, responses={200: OpenApiTypes.OBJECT})
    def get(self, request, process_id: int):
        _require_analytics(request)
        filters = metric_filters(request_org(request), request.query_params)
        if filters is None:
            snapshot = MetricSnapshot.objects.filter(process=self.process).first()
            if snapshot is not None:
                return Response(snapshot.overall)
        return Response(process_metrics(process=self.process, filters=filters))


@extend_schema(tags=["metrics"])
class ProcessVersionMetricsApi(ProcessScopedApi):
    """The metrics of the deals that entered each stage under one process version (from the snapshot,
    or live when the snapshot does not have that version yet)."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.version = get_for_org_or_404(
            ProcessVersion.objects.filter(process=self.process), request_org(request), pk=kwargs["version_id"]
        )

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request, process_id: int, version_id: int):
        _require_analytics(request)
        number = self.version.number
        snapshot = MetricSnapshot.objects.filter(process=self.process).first()
        if snapshot is not None and str(number) in snapshot.by_version:
            return Response(snapshot.by_version[str(number)])
        return Response(process_metrics(process=self.process, filters=MetricFilters(process_version=number)))


class CompareQuerySerializer(serializers.Serializer):
    a = serializers.IntegerField(required=False, min_value=1, help_text="Version number of cohort A")
    b = serializers.IntegerField(required=False, min_value=1, help_text="Version number of cohort B")
    split = serializers.DateTimeField(required=False, help_text="Or: entries before (A) and from (B) this")

    def validate(self, attrs):
        versions = "a" in attrs or "b" in attrs
        if versions and "split" in attrs:
            raise serializers.ValidationError(
                {"split": ["Give two versions (a and b) or a split date, not both."]}
            )
        if not versions and "split" not in attrs:
            raise serializers.ValidationError({"a": ["Give two versions (a and b) or a split date."]})
        if versions and not ("a" in attrs and "b" in attrs):
            raise serializers.ValidationError({"b" if "a" in attrs else "a": ["Give both versions."]})
        return attrs


@extend_schema(tags=["metrics"])
class ProcessCompareApi(ProcessScopedApi):
    """Did the tweak work? Each stage's conversion and median days for two cohorts (two process
    versions, or before and after a date) with the difference, its 95% interval, the p-value and a
    verdict ("better", "worse", "not enough data yet" with how many more resolved deals are needed)."""

    @extend_schema(
        parameters=[
            OpenApiParameter("a", OpenApiTypes.INT, description="Version number of cohort A"),
            OpenApiParameter("b", OpenApiTypes.INT, description="Version number of cohort B"),
            OpenApiParameter(
                "split", OpenApiTypes.DATETIME, description="Or: before (A) / from (B) this time"
            ),
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request, process_id: int):
        _require_analytics(request)
        query = CompareQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        if "split" in data:
            return Response(compare_split(process=self.process, split=data["split"]))
        return Response(compare_versions(process=self.process, version_a=data["a"], version_b=data["b"]))


class MetricRunOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    process = serializers.IntegerField(source="process_id")
    status = serializers.ChoiceField(choices=JobStatus.choices)
    progress = serializers.IntegerField(help_text="0–100")
    error = serializers.CharField()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    status_url = serializers.SerializerMethodField()

    def get_status_url(self, run) -> str:
        return reverse("api:metric_run_detail", args=[run.id])


@extend_schema(tags=["metrics"])
class ProcessMetricsRefreshApi(ProcessScopedApi):
    """Queue a recomputation of the process's snapshot (ops and admins); the run already queued or
    running is returned rather than a second one."""

    @extend_schema(request=None, responses={202: MetricRunOutputSerializer})
    def post(self, request, process_id: int):
        run = metric_run_request(process=self.process, by=request.membership)
        return Response(MetricRunOutputSerializer(run).data, status=status.HTTP_202_ACCEPTED)


@extend_schema(tags=["metrics"])
class MetricRunDetailApi(ScopedObjectMixin, APIView):
    """A metrics run's status and progress."""

    scoped_attr = "run"
    scoped_url_kwarg = "run_id"

    def get_scoped_queryset(self):
        return MetricRun.objects.for_org(request_org(self.request))

    @extend_schema(responses={200: MetricRunOutputSerializer})
    def get(self, request, run_id: int):
        _require_analytics(request)
        return Response(MetricRunOutputSerializer(self.run).data)


urlpatterns = [
    path("processes/<int:process_id>/metrics/", ProcessMetricsApi.as_view(), name="process_metrics"),
    path(
        "processes/<int:process_id>/metrics/versions/<int:version_id>/",
        ProcessVersionMetricsApi.as_view(),
        name="process_version_metrics",
    ),
    path(
        "processes/<int:process_id>/metrics/refresh/",
        ProcessMetricsRefreshApi.as_view(),
        name="process_metrics_refresh",
    ),
    path("processes/<int:process_id>/compare/", ProcessCompareApi.as_view(), name="process_compare"),
    path("metric-runs/<int:run_id>/", MetricRunDetailApi.as_view(), name="metric_run_detail"),
]
