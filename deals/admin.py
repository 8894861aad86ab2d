"""Django admin for deals and everything around them.

Support staff use it to look things up and fix data. Deals are created and edited through the deal
services (acting as one of the org's admins), so the stage history, the version lock and the plan stay
consistent; the stage history, the digest log and the board's rollups are read-only; every other row
takes its organization from its deal and may point only at objects of that organization."""

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models.functions import Greatest

from deals.models import (
    Account,
    Activity,
    Contact,
    CriterionAnswer,
    Deal,
    DealStakeholder,
    DealStep,
    DealTag,
    DigestRun,
    StageChange,
    StageRollup,
    StepComment,
)
from deals.services import deal_create, deal_update
from deals.services.moves import DEAL_FIELDS
from deals.services.rollups import rollup_rebuild
from orgs.models import Membership, Organization, Role
from salesproc.admin import ReadOnlyAdmin
from salesproc.lib.models import OrgScopedModel


def _organization_id(value) -> int | None:
    if isinstance(value, Organization):
        return value.id
    return getattr(value, "organization_id", None)


class SameOrganizationForm(forms.ModelForm):
    """Every org-scoped object the form points at belongs to the organization of `org_source`."""

    org_source = "deal"

    def clean(self):
        cleaned = super().clean()
        source = cleaned.get(self.org_source)
        if source is None and self.instance.pk:
            # Read-only or excluded on the change form: the saved value holds.
            source = getattr(self.instance, self.org_source)
        org_id = _organization_id(source)
        if org_id is None:
            return cleaned
        for name, value in list(cleaned.items()):
            if (
                name != self.org_source
                and isinstance(value, OrgScopedModel)
                and value.organization_id != org_id
            ):
                self.add_error(name, "This belongs to another organization.")
        return cleaned


class AccountForm(SameOrganizationForm):
    org_source = "organization"


class DealChildAdmin(admin.ModelAdmin):
    """Rows that hang off a deal: their organization is the deal's."""

    form = SameOrganizationForm
    exclude = ("organization",)
    raw_id_fields = ("deal",)

    def save_model(self, request, obj, form, change):
        obj.organization_id = obj.deal.organization_id
        super().save_model(request, obj, form, change)


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    form = AccountForm
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("name", "industry", "website", "organization", "created_at")
    list_filter = ("organization", "industry")
    search_fields = ("name", "website")
    list_select_related = ("organization",)
    autocomplete_fields = ("organization",)
    show_full_result_count = False


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    form = AccountForm
    list_display = ("name", "title", "email", "account", "organization")
    list_filter = ("organization",)
    search_fields = ("name", "email", "account__name")
    list_select_related = ("account", "organization")
    autocomplete_fields = ("organization",)
    raw_id_fields = ("account",)
    show_full_result_count = False


class DealForm(SameOrganizationForm):
    org_source = "process"

    def clean(self):
        cleaned = super().clean()
        process = cleaned.get("process") or (self.instance.process if self.instance.pk else None)
        if process is None:
            return cleaned
        stage = cleaned.get("stage")
        if stage is not None and stage.process_id != process.id:
            self.add_error("stage", "Choose a stage of the deal's process.")
        owner = cleaned.get("owner")
        if (
            owner is not None
            and "owner" in self.changed_data
            and not Membership.objects.filter(
                organization_id=process.organization_id, user=owner, is_active=True
            ).exists()
        ):
            self.add_error("owner", "The owner must be an active member of the deal's organization.")
        self.acting_admin = (
            Membership.objects.select_related("organization", "user")
            .filter(organization_id=process.organization_id, role=Role.ADMIN, is_active=True)
            .order_by("id")
            .first()
        )
        if self.acting_admin is None:
            self.add_error(None, "The organization has no active admin for the deal services to act as.")
        return cleaned


class StageChangeInline(admin.TabularInline):
    model = StageChange
    extra = 0
    can_delete = False
    fields = ("to_stage", "from_stage", "entered_at", "left_at", "by", "process_version", "override_reason")
    readonly_fields = fields
    ordering = ("entered_at", "id")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("to_stage", "from_stage", "by", "process_version__process")
        )


@admin.register(Deal)
class DealAdmin(admin.ModelAdmin):
    form = DealForm
    list_display = (
        "name",
        "account",
        "owner",
        "process",
        "stage",
        "status",
        "amount",
        "currency",
        "last_activity_at",
    )
    list_filter = ("status", "organization", "process")
    search_fields = ("name", "account__name", "external_id", "owner__email")
    list_select_related = ("account", "owner", "process", "stage")
    autocomplete_fields = ("owner", "process")
    raw_id_fields = ("account", "stage")
    show_full_result_count = False
    inlines = [StageChangeInline]
    # Stage, status and the timestamps change only through moves, wins and losses (the deal pages).
    history_fields = (
        "organization",
        "status",
        "closed_at",
        "lost_reason",
        "stage_entered_at",
        "last_activity_at",
        "version",
        "external_id",
        "created_at",
        "updated_at",
    )
    add_fields = (
        "process",
        "stage",
        "name",
        "account",
        "owner",
        "amount",
        "currency",
        "expected_close",
        "industry",
        "budget",
        "lead_source",
        "description",
    )

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else (*self.add_fields, *self.history_fields)

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else ("process", "stage", *self.history_fields)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            form.base_fields["stage"].required = False
            form.base_fields["stage"].help_text = "Empty: the process's first stage."
        return form

    def save_model(self, request, obj, form, change):
        # An edit sends what changed (so an unchanged owner who has left is no error); a new deal, all.
        fields = form.changed_data if change else form.cleaned_data
        data = {name: form.cleaned_data[name] for name in fields if name in DEAL_FIELDS}
        if change:
            deal = Deal.objects.get(pk=obj.pk)
            deal_update(deal=deal, by=form.acting_admin, expected_version=deal.version, **data)
        else:
            deal = deal_create(
                by=form.acting_admin, process=obj.process, stage=form.cleaned_data.get("stage"), **data
            )
        obj.__dict__.update({k: v for k, v in deal.__dict__.items() if not k.startswith("_")})


@admin.register(StageRollup)
class StageRollupAdmin(ReadOnlyAdmin):
    """The board's column totals: derived from the open deals, so never edited by hand; the action
    recomputes an organization's rows from its deals (as `manage.py reconcile_rollups` does)."""

    list_display = ("stage", "owner", "currency", "open_count", "amount_sum", "process", "organization")
    list_filter = ("organization", "process")
    search_fields = ("stage__name", "owner__email")
    list_select_related = ("stage", "owner", "process", "organization")
    show_full_result_count = False
    actions = ["rebuild"]

    @admin.action(description="Recompute the selected rows' organizations from their deals")
    def rebuild(self, request, queryset):
        orgs = Organization.objects.filter(pk__in=queryset.values("organization_id")).order_by("pk")
        fixed = sum(len(rollup_rebuild(org=org)) for org in orgs)
        self.message_user(request, f"{fixed} row{'s' if fixed != 1 else ''} corrected.")


@admin.register(StageChange)
class StageChangeAdmin(ReadOnlyAdmin):
    list_display = ("deal", "to_stage", "from_stage", "entered_at", "left_at", "by", "process_version")
    list_filter = ("organization",)
    search_fields = ("deal__name",)
    list_select_related = ("deal", "to_stage", "from_stage", "by", "process_version__process")
    raw_id_fields = ("deal",)
    show_full_result_count = False


@admin.register(DealTag)
class DealTagAdmin(DealChildAdmin):
    list_display = ("value", "kind", "deal", "organization")
    list_filter = ("kind", "organization")
    search_fields = ("value", "deal__name")
    list_select_related = ("deal", "organization")
    show_full_result_count = False


@admin.register(DealStakeholder)
class DealStakeholderAdmin(DealChildAdmin):
    list_display = ("contact", "role", "influence", "attitude", "deal", "organization")
    list_filter = ("role", "attitude", "organization")
    search_fields = ("contact__name", "contact__email", "deal__name")
    list_select_related = ("contact", "deal", "organization")
    raw_id_fields = ("deal", "contact")
    show_full_result_count = False


class ActivityForm(SameOrganizationForm):
    def clean(self):
        cleaned = super().clean()
        stakeholder, deal = cleaned.get("stakeholder"), cleaned.get("deal")
        if stakeholder is not None and deal is not None and stakeholder.deal_id != deal.id:
            self.add_error("stakeholder", "That person is not a stakeholder on this deal.")
        return cleaned


@admin.register(Activity)
class ActivityAdmin(DealChildAdmin):
    form = ActivityForm
    list_display = ("subject", "kind", "deal", "by", "occurred_at", "organization")
    list_filter = ("kind", "organization")
    search_fields = ("subject", "deal__name")
    list_select_related = ("deal", "by", "organization")
    raw_id_fields = ("deal", "stakeholder")
    autocomplete_fields = ("by",)
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        # As activity_log does: the deal's last activity moves forward, never back.
        Deal.objects.filter(pk=obj.deal_id).update(
            last_activity_at=Greatest("last_activity_at", obj.occurred_at)
        )


@admin.register(DealStep)
class DealStepAdmin(DealChildAdmin):
    list_display = ("title", "deal", "source", "stage", "due_date", "completed_at", "organization")
    list_filter = ("source", "organization", ("completed_at", admin.EmptyFieldListFilter))
    search_fields = ("title", "deal__name")
    list_select_related = ("deal", "stage", "organization")
    raw_id_fields = ("deal", "stage", "criterion", "stakeholder")
    autocomplete_fields = ("assignee", "completed_by", "created_by")
    show_full_result_count = False


@admin.register(StepComment)
class StepCommentAdmin(ReadOnlyAdmin):
    """Read only: a comment's mentions and notifications are written by deals.services.plan."""

    list_display = ("__str__", "step", "author", "created_at", "organization")
    list_filter = ("organization",)
    search_fields = ("body", "step__title", "step__deal__name")
    list_select_related = ("step", "author", "organization")


class CriterionAnswerForm(SameOrganizationForm):
    def clean(self):
        cleaned = super().clean()
        criterion = cleaned.get("criterion")
        if criterion is not None and criterion.kind != "answer":
            self.add_error("criterion", "Choose an exit criterion of kind answer.")
        return cleaned


@admin.register(CriterionAnswer)
class CriterionAnswerAdmin(DealChildAdmin):
    form = CriterionAnswerForm
    list_display = ("criterion", "deal", "text", "answered_by", "answered_at")
    list_filter = ("organization",)
    search_fields = ("text", "deal__name", "criterion__label")
    list_select_related = ("criterion", "deal", "answered_by")
    raw_id_fields = ("deal", "criterion")
    autocomplete_fields = ("answered_by",)
    show_full_result_count = False


@admin.register(DigestRun)
class DigestRunAdmin(ReadOnlyAdmin):
    list_display = ("day", "kind", "recipient", "deal_count", "sent_at", "organization")
    list_filter = ("kind", "organization", "day")
    search_fields = ("recipient__email",)
    list_select_related = ("recipient", "organization")
