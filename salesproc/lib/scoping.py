"""The one way pages and the API fetch an object by id: scoped to the request's organization.

An object of another organization is a 404, never a 403 that would confirm it exists."""

from django.db.models import Model, QuerySet
from django.http import Http404


def get_for_org_or_404(queryset_or_model, org, **lookup):
    qs: QuerySet = (
        queryset_or_model._default_manager.all()
        if isinstance(queryset_or_model, type) and issubclass(queryset_or_model, Model)
        else queryset_or_model
    )
    if org is None:
        raise Http404("No organization")
    try:
        return qs.filter(organization=org).get(**lookup)
    except (qs.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"No {qs.model._meta.verbose_name} matches the given query.") from None
