"""What every deal page view shares: the signed-in member, org-scoped lookups, service errors → HTTP."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from django_htmx.middleware import HtmxDetails

from deals.forms import MAX_ID
from deals.models import Deal
from deals.selectors import deals_for_page
from orgs.middleware import current_membership
from orgs.models import Membership
from salesproc.lib.errors import CriteriaUnmet, InvalidInput, NotAllowed, ServiceError, StaleVersion
from salesproc.lib.scoping import get_for_org_or_404


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def _check_ids(kwargs: dict) -> None:
    # A number in the URL too large for a bigint is a 404, not a database error.
    for key, value in kwargs.items():
        if key.endswith("_id") and isinstance(value, int) and not 0 < value <= MAX_ID:
            raise Http404("No such object.")


def member_view(view: Callable) -> Callable:
    """Signed in and an active member of an organization (else a 404); the view gets the membership."""

    @login_required
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        _check_ids(kwargs)
        membership = current_membership(request)
        if membership is None:
            raise Http404("You are not an active member of an organization.")
        return view(request, membership, *args, **kwargs)

    return wrapper


def deal_action(view: Callable | None = None, *, lookup: Callable | None = None) -> Callable:
    """A POST on one deal. The deal, and with `lookup(membership, deal, **kwargs)` the object inside it
    that the URL names, are looked up (scoped to the member's org) before the method is checked, so
    another org's id is a 404 whatever the method."""

    def decorate(view: Callable) -> Callable:
        @member_view
        @wraps(view)
        def wrapper(request, membership: Membership, deal_id: int, **kwargs):
            deal = get_deal(membership, deal_id)
            refused = wrong_method(request, ("POST",))
            if refused is not None:
                if lookup is not None:
                    lookup(membership, deal, **kwargs)
                return refused
            return view(request, membership, deal, **kwargs)

        return wrapper

    return decorate(view) if view is not None else decorate


def wrong_method(request, allowed=("GET", "HEAD")) -> HttpResponse | None:
    """A 405 for a method the view does not take, else None. Views that take ids call it after their
    org-scoped lookup, so another org's id is a 404 whatever the method."""
    if request.method in allowed:
        return None
    return HttpResponseNotAllowed([m for m in allowed if m != "HEAD"])


def get_deal(membership: Membership, deal_id: int) -> Deal:
    """The deal with what its pages show (account, owner, stage, process), or a 404."""
    org = membership.organization
    return get_for_org_or_404(deals_for_page(org=org), org, pk=deal_id)


def error_status(exc: ServiceError) -> int:
    """The HTTP status a refused write answers with; the body always says why."""
    if isinstance(exc, NotAllowed):
        return 403
    if isinstance(exc, StaleVersion | CriteriaUnmet):
        return 409
    if isinstance(exc, InvalidInput):
        return 422
    return 400


def first_error(form) -> str:
    """The form's first message, for places that show one line."""
    for messages in form.errors.values():
        if messages:
            return messages[0]
    return "Check the form."


def concat(*responses: HttpResponse, status: int = 200) -> HttpResponse:
    """Several rendered fragments as one htmx response (the later ones carry hx-swap-oob)."""
    response = HttpResponse(b"".join(r.content for r in responses), status=status)
    return response
