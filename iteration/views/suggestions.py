"""The suggestions section of the insights page: ops apply a suggestion in one click (a new process
version) or dismiss it with a reason; the section answers in place (htmx) with a confirmation or the
error. Managers see the suggestions and their evidence without the buttons."""

from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render

from deals.views.common import member_view, wrong_method
from iteration.models import Suggestion, SuggestionStatus
from iteration.suggestions import suggestion_apply, suggestion_dismiss
from orgs.models import Membership
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.lib.scoping import get_for_org_or_404
from salesproc.models import Process

TEMPLATE = "iteration/insights/insights.html"
RECENTLY_DECIDED = 5


def suggestions_context(*, process: Process, membership: Membership, **extra) -> dict:
    """What the section shows: the open suggestions and the last few decided ones (two queries)."""
    rows = Suggestion.objects.filter(process=process, organization=membership.organization).select_related(
        "applied_version", "decided_by"
    )
    return {
        "suggestions": list(rows.filter(status=SuggestionStatus.OPEN).order_by("kind", "title")),
        "decided_suggestions": list(
            rows.exclude(status=SuggestionStatus.OPEN).order_by("-decided_at", "-id")[:RECENTLY_DECIDED]
        ),
        "can_decide": membership.can_edit_process,
        "process": process,
        **extra,
    }


def _section(request, membership: Membership, process: Process, *, status: int = 200, **extra):
    return render(
        request,
        f"{TEMPLATE}#suggestions",
        suggestions_context(process=process, membership=membership, **extra),
        status=status,
    )


def _decide(request, membership: Membership, suggestion_id: int, action):
    suggestion = get_for_org_or_404(
        Suggestion.objects.select_related("process"), membership.organization, pk=suggestion_id
    )
    refused = wrong_method(request, ("POST",))
    if refused:
        return refused
    process = suggestion.process
    try:
        message = action(suggestion)
    except NotAllowed as exc:
        raise PermissionDenied(exc.message) from exc
    except InvalidInput as exc:
        errors = [m for messages in exc.errors.values() for m in messages]
        if not request.htmx:
            return redirect("insights", process.id)
        return _section(
            request,
            membership,
            process,
            error_suggestion_id=suggestion.id,
            suggestion_errors=errors,
            status=400,
        )
    if not request.htmx:
        return redirect("insights", process.id)
    return _section(request, membership, process, suggestion_message=message)


@member_view
def suggestion_apply_view(request, membership: Membership, suggestion_id: int):
    def apply(suggestion):
        version = suggestion_apply(suggestion=suggestion, by=membership)
        if version is None:
            return f"Applied “{suggestion.title}”: the play is inactive and leaves the deals it was on."
        return f"Applied “{suggestion.title}”: the process is now at version {version.number}."

    return _decide(request, membership, suggestion_id, apply)


@member_view
def suggestion_dismiss_view(request, membership: Membership, suggestion_id: int):
    def dismiss(suggestion):
        suggestion_dismiss(suggestion=suggestion, by=membership, reason=request.POST.get("reason", ""))
        return f"Dismissed “{suggestion.title}”."

    return _decide(request, membership, suggestion_id, dismiss)
