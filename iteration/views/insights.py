"""The insights page of a process (managers, ops and admins): the funnel with interval whiskers, days in
stage (box plot), conversion by month, stalled deals per stage, "did the tweak work?" — the version
comparison — and the suggestions, which ops apply or dismiss from here. Ops and admins
refresh the snapshot from here and watch the run's progress (htmx polling).

Without filters the page shows the last snapshot (or computes live when there is none); with filters it
computes live for that cohort. The process named in the URL is looked up in the member's organization
before the role or the method is checked: another organization's process is a 404 for everyone."""

from datetime import date, datetime, time

from django import forms
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from deals.selectors import active_processes
from deals.views.common import member_view, wrong_method
from iteration.charts import SMALL_SAMPLE, days_chart, funnel_chart, monthly_chart
from iteration.compare import compare_split, compare_versions
from iteration.metrics import MetricFilters, process_metrics
from iteration.models import MetricRun, MetricSnapshot
from iteration.snapshots import metric_run_request
from iteration.trends import conversion_by_month, days_in_stage_distribution, distribution_from_metrics
from iteration.views.suggestions import suggestions_context
from orgs.models import Membership
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import Process, Stage

TEMPLATE = "iteration/insights/insights.html"


def _start_of(day: date) -> datetime:
    """Midnight at the start of `day` in the current time zone."""
    return timezone.make_aware(datetime.combine(day, time.min))


class InsightsFilterForm(forms.Form):
    entered_from = forms.DateField(required=False, label="Entered from")
    entered_to = forms.DateField(required=False, label="Entered before")
    version = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Process version")
    owner = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Owner")
    industry = forms.CharField(required=False, max_length=80)
    amount_min = forms.DecimalField(required=False, max_digits=14, decimal_places=2, label="Amount from")
    amount_max = forms.DecimalField(required=False, max_digits=14, decimal_places=2, label="Amount to")

    def __init__(self, data, *, versions: list[int], owners: list[tuple[int, str]]):
        super().__init__(data)
        self.fields["version"].choices = [("", "All")] + [(n, f"Version {n}") for n in versions]
        self.fields["owner"].choices = [("", "Everyone")] + owners

    def clean(self):
        cleaned = super().clean()
        start, end = cleaned.get("entered_from"), cleaned.get("entered_to")
        if start and end and start >= end:
            self.add_error("entered_to", "Must be after the start date.")
        low, high = cleaned.get("amount_min"), cleaned.get("amount_max")
        if low is not None and high is not None and low > high:
            self.add_error("amount_max", "Must be at least the lower amount.")
        return cleaned

    def filters(self, owner_memberships: dict[int, int]) -> MetricFilters | None:
        """The cohort asked for, or None for "everything" (the snapshot)."""
        data = self.cleaned_data
        if not any(data.get(k) not in (None, "") for k in self.fields):
            return None

        def at(day):
            return _start_of(day) if day else None

        owner = data.get("owner")
        return MetricFilters(
            entered_from=at(data.get("entered_from")),
            entered_to=at(data.get("entered_to")),
            process_version=data.get("version"),
            owner_ids=[owner_memberships[owner]] if owner in owner_memberships else None,
            industry=data.get("industry") or None,
            amount_min=data.get("amount_min"),
            amount_max=data.get("amount_max"),
        )


class CompareForm(forms.Form):
    a = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Version A")
    b = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Version B")
    split = forms.DateField(required=False, label="Or split at date")

    def __init__(self, data, *, versions: list[int]):
        super().__init__(data)
        choices = [("", "—")] + [(n, f"Version {n}") for n in versions]
        self.fields["a"].choices = choices
        self.fields["b"].choices = choices

    def clean(self):
        cleaned = super().clean()
        a, b, split = cleaned.get("a"), cleaned.get("b"), cleaned.get("split")
        if split and (a or b):
            raise forms.ValidationError("Compare two versions or split at a date, not both.")
        if not split and (a is None or b is None) and not self.errors:
            raise forms.ValidationError("Pick two versions, or a date to split at.")
        if a is not None and a == b:
            self.add_error("b", "Pick a different version.")
        return cleaned


def _require_analytics(membership: Membership) -> None:
    if not membership.sees_analytics:
        raise PermissionDenied("Insights are for managers, ops and admins.")


@member_view
def insights_default(request, membership: Membership):
    """/insights/ → the insights of the first active process."""
    _require_analytics(membership)
    processes = active_processes(org=membership.organization)
    if not processes:
        return render(request, TEMPLATE, {"process": None, "processes": []})
    return redirect("insights", processes[0].id)


@member_view
def insights(request, membership: Membership, process_id: int):
    org = membership.organization
    process = get_for_org_or_404(Process.objects.all(), org, pk=process_id)
    _require_analytics(membership)
    refused = wrong_method(request)
    if refused:
        return refused
    versions = list(process.versions.order_by("number").values_list("number", flat=True))
    people = list(
        Membership.objects.filter(organization=org)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )
    form = InsightsFilterForm(
        request.GET or None, versions=versions, owners=[(m.user_id, m.user.display_name) for m in people]
    )
    filters = form.filters({m.user_id: m.id for m in people}) if form.is_bound and form.is_valid() else None
    snapshot = None
    if filters is None:
        snapshot = MetricSnapshot.objects.filter(process=process).first()
    metrics = snapshot.overall if snapshot is not None else process_metrics(process=process, filters=filters)
    compare_form = CompareForm(
        {k: request.GET[k] for k in ("a", "b", "split") if k in request.GET} or None, versions=versions
    )
    comparison = None
    if compare_form.is_bound and compare_form.is_valid():
        data = compare_form.cleaned_data
        try:
            if data.get("split"):
                split = _start_of(data["split"])
                comparison = compare_split(process=process, split=split)
            else:
                comparison = compare_versions(process=process, version_a=data["a"], version_b=data["b"])
        except InvalidInput as exc:
            for field, messages in exc.errors.items():
                for message in messages:
                    compare_form.add_error(field if field in compare_form.fields else None, message)
    active_run = MetricRun.objects.filter(process=process, status__in=("queued", "running")).first()
    # Conversion by month is computed live (one query), for the same cohort as the numbers above; the
    # days-in-stage box plot is read from those numbers.
    stage_rows = list(Stage.objects.filter(process=process, organization=org).order_by("order"))
    trend = conversion_by_month(process=process, filters=filters, stages=stage_rows)
    boxes = distribution_from_metrics(metrics["stages"], stage_rows)
    if boxes is None:  # a snapshot older than the box plot's quantiles
        boxes = days_in_stage_distribution(process=process, filters=filters, stages=stage_rows)
    return render(
        request,
        TEMPLATE,
        {
            "process": process,
            "processes": active_processes(org=org),
            "form": form,
            "filtered": filters is not None,
            "snapshot": snapshot,
            "metrics": metrics,
            "stages": metrics["stages"],
            "summary": metrics.get("summary") or {},
            "funnel_svg": funnel_chart(metrics["stages"]),
            "days_svg": days_chart(boxes, metrics["stages"]),
            "boxes": boxes,
            "trend": trend,
            "monthly_svgs": [
                monthly_chart({"months": trend["months"], "stages": [stage]}) for stage in trend["stages"]
            ],
            **suggestions_context(process=process, membership=membership),
            "small_sample": SMALL_SAMPLE,
            "compare_form": compare_form,
            "comparison": comparison,
            "run": active_run,
            "can_refresh": membership.can_edit_process,
        },
    )


@member_view
def insights_refresh(request, membership: Membership, process_id: int):
    """POST: queue a metrics run (ops, admins) and answer with its progress fragment."""
    process = get_for_org_or_404(Process.objects.all(), membership.organization, pk=process_id)
    refused = wrong_method(request, ("POST",))
    if refused:
        return refused
    try:
        run = metric_run_request(process=process, by=membership)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    if not request.htmx:
        return redirect(reverse("insights", args=[process.id]))
    return render(request, f"{TEMPLATE}#run_status", {"run": run, "process": process})


@member_view
def insights_run(request, membership: Membership, run_id: int):
    """The run's progress fragment, polled every second while the run is queued or running."""
    run = get_for_org_or_404(MetricRun.objects.select_related("process"), membership.organization, pk=run_id)
    _require_analytics(membership)
    refused = wrong_method(request)
    if refused:
        return refused
    return render(request, f"{TEMPLATE}#run_status", {"run": run, "process": run.process})
