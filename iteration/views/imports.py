"""The history import pages, for ops and admins: the upload form with the past imports, and one
import's page, whose progress bar polls a fragment every second while the job runs.

The import named in a URL is looked up in the member's organization before the role or the method is
checked, so another organization's import is a 404 for everyone; reps and managers get a 403."""

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect, render
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from deals.forms import MAX_ID
from iteration.forms_imports import HistoryImportForm
from iteration.history_import import history_import_start
from iteration.models import HistoryImport
from orgs.models import Membership
from orgs.views import member_required, render_fragments
from salesproc.lib.errors import InvalidInput
from salesproc.lib.scoping import get_for_org_or_404

LIST_TEMPLATE = "iteration/imports/history_import_list.html"
DETAIL_TEMPLATE = "iteration/imports/history_import_detail.html"
# The list shows the latest imports; older ones stay in the admin.
LIST_LIMIT = 30


def _require_ops(membership: Membership) -> None:
    if not membership.can_edit_process:
        raise PermissionDenied("Only ops and admins import history.")


def _imports(membership: Membership):
    """The org's imports with what the pages show, never the stored files."""
    return (
        HistoryImport.objects.for_org(membership.organization)
        .select_related("process", "created_by")
        .defer("deals_data", "history_data")
    )


def _list_context(membership: Membership, form: HistoryImportForm | None = None) -> dict:
    return {
        "imports": list(_imports(membership).order_by("-created_at", "-id")[:LIST_LIMIT]),
        "list_limit": LIST_LIMIT,
        "form": form or HistoryImportForm(membership.organization, auto_id="import_%s"),
    }


@member_required
def history_import_list(request, membership: Membership):
    """The upload form and the latest imports."""
    _require_ops(membership)
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET"])
    return render(request, LIST_TEMPLATE, _list_context(membership))


@member_required
def history_import_create(request, membership: Membership):
    """Keep the uploaded files and queue the import; then show its page, which follows the job."""
    _require_ops(membership)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    form = HistoryImportForm(membership.organization, request.POST, request.FILES, auto_id="import_%s")
    if form.is_valid():
        deals, history = form.cleaned_data["deals"], form.cleaned_data["history"]
        try:
            job = history_import_start(
                organization=membership.organization,
                process=form.cleaned_data["process"],
                by=membership,
                deals_file=deals.read(),
                history_file=history.read(),
                deals_filename=deals.name,
                history_filename=history.name,
            )
        except InvalidInput as exc:
            form.add_service_errors(exc)
        else:
            url = reverse("history_import_detail", args=[job.id])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    context = _list_context(membership, form)
    if request.htmx:
        return render_fragments(request, LIST_TEMPLATE, ["upload_card"], context, status=422)
    return render(request, LIST_TEMPLATE, context, status=422)


def import_view(view: Callable) -> Callable:
    """A page of one import (GET only): looked up in the member's organization, then the role, then
    the method."""

    @member_required
    @wraps(view)
    def wrapper(request, membership: Membership, import_id: int):
        if not 0 < import_id <= MAX_ID:  # larger than a bigint: a 404, not a database error
            raise Http404("No such import.")
        job = get_for_org_or_404(_imports(membership), membership.organization, pk=import_id)
        _require_ops(membership)
        if request.method not in ("GET", "HEAD"):
            return HttpResponseNotAllowed(["GET"])
        return view(request, membership, job)

    return wrapper


def _detail_context(job: HistoryImport) -> dict:
    result = job.result or {}
    counts = [
        ("Deals created", result.get("deals_created")),
        ("Deals updated", result.get("deals_updated")),
        ("Deals unchanged", result.get("deals_unchanged")),
        ("Stage entries written", result.get("history_rows")),
        ("Accounts created", result.get("accounts_created")),
        ("Inactive members added", result.get("members_created")),
    ]
    return {
        "job": job,
        "counts": [(label, n) for label, n in counts if n is not None],
        "errors_truncated": bool(result.get("errors_truncated")),
    }


@import_view
def history_import_detail(request, membership: Membership, job: HistoryImport):
    """One import: its progress while it runs, then its counts or every problem found."""
    return render(request, DETAIL_TEMPLATE, _detail_context(job))


@import_view
def history_import_progress(request, membership: Membership, job: HistoryImport):
    """The status fragment that the detail page polls; once the import has finished it comes back
    without its polling trigger, so the polling stops."""
    return render(request, f"{DETAIL_TEMPLATE}#status", _detail_context(job))
