"""Tenancy building blocks shared by every domain model."""

from django.db import models


class OrgQuerySet(models.QuerySet):
    def for_org(self, org):
        return self.filter(organization=org)


class OrgScopedModel(models.Model):
    """A row that belongs to one organization; every query is scoped through `.for_org(org)`."""

    organization = models.ForeignKey("orgs.Organization", on_delete=models.CASCADE, related_name="+")

    objects = OrgQuerySet.as_manager()

    class Meta:
        abstract = True
