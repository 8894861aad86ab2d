"""Tenancy building blocks for the API: ids that only see the request's organization, and views that
load the object named in their URL before anything else.

Loading in `initial()` (after authentication and the IsOrgMember permission, before the method is
dispatched) means another organization's id is a 404 whatever the method, even one the view does not
take: a 405 there would be harmless, but the tenancy walker (tests/test_tenancy_urls.py) expects every
id route to answer 404."""

from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model, QuerySet
from rest_framework import serializers
from rest_framework.request import Request

from orgs.models import Organization
from salesproc.lib.scoping import get_for_org_or_404


def request_org(request: Request) -> Organization:
    """The organization of the request's membership (set by the IsOrgMember permission)."""
    return request.membership.organization


class OrgPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """The id of an object of the request's organization. Another organization's id answers exactly
    like an id that does not exist, so its existence is never confirmed."""

    def __init__(self, model: type[Model], **kwargs):
        self.model = model
        # Only a hint for the schema (the id's type); lookups always go through get_queryset.
        kwargs.setdefault("queryset", model._default_manager.none())
        super().__init__(**kwargs)

    def get_queryset(self) -> QuerySet:
        request = self.context.get("request")
        if request is None:
            raise ImproperlyConfigured(
                f"{type(self.parent).__name__} needs context={{'request': request}} to scope its ids."
            )
        return self.model._default_manager.filter(organization=request_org(request))


class ScopedObjectMixin:
    """Loads `self.<scoped_attr>` from the URL kwarg `scoped_url_kwarg` through get_for_org_or_404
    before the handler runs. Subclasses set the three attributes or override `get_scoped_queryset`."""

    scoped_attr: str
    scoped_url_kwarg: str
    scoped_queryset: QuerySet

    def get_scoped_queryset(self) -> QuerySet:
        return self.scoped_queryset.all()

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        obj = get_for_org_or_404(
            self.get_scoped_queryset(), request_org(request), pk=kwargs[self.scoped_url_kwarg]
        )
        setattr(self, self.scoped_attr, obj)
