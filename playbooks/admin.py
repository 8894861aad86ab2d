"""Django admin for the playbooks pillar.

The playbook pages are the place to edit plays; the admin is for support. Edits here keep the services'
rules: a play's condition is validated and stored normalized, a saved play bumps its version and is
re-evaluated across its open deals; children take their organization from their parent and may point
only at objects of that organization. Attachments, answers and evaluation runs are written by the
triggering and the deal pages, and are read-only here."""

from django import forms
from django.contrib import admin
from django.db import models
from django.utils import timezone

from deals.admin import SameOrganizationForm
from playbooks.conditions import InvalidCondition, parse
from playbooks.models import (
    DealPlay,
    Play,
    PlayAnswer,
    Playbook,
    PlayEvaluationRun,
    PlayQuestion,
    PlayResource,
    PlayStep,
)
from playbooks.services import play_step_delete
from playbooks.triggering import play_evaluation_request
from salesproc.admin import ReadOnlyAdmin


class PlaybookForm(SameOrganizationForm):
    org_source = "organization"

    def clean(self):
        cleaned = super().clean()
        owner = cleaned.get("owner")
        org = cleaned.get("organization") or (self.instance.organization if self.instance.pk else None)
        if owner is not None and org is not None and owner.organization_id != org.id:
            self.add_error("owner", "This belongs to another organization.")
        return cleaned


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    form = PlaybookForm
    list_display = ("name", "process", "active", "owner", "organization", "updated_at")
    list_filter = ("active", "organization")
    search_fields = ("name", "description")
    list_select_related = ("process", "owner__user", "organization")
    autocomplete_fields = ("organization",)
    raw_id_fields = ("process", "owner")

    def get_readonly_fields(self, request, obj=None):
        # A playbook does not move between organizations: its plays and their history would stay behind.
        return ("organization",) if obj else ()

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and {"active", "process"} & set(form.changed_data):
            for play in obj.plays.all():
                play_evaluation_request(play=play)


class PlayForm(SameOrganizationForm):
    org_source = "playbook"

    def clean(self):
        cleaned = super().clean()
        playbook = cleaned.get("playbook") or (self.instance.playbook if self.instance.pk else None)
        if playbook is not None and "condition" in cleaned:
            try:
                cleaned["condition"] = parse(cleaned["condition"], organization=playbook.organization_id).data
            except InvalidCondition as exc:
                self.add_error("condition", exc.problems)
        return cleaned


class PlayChildInline(admin.TabularInline):
    extra = 0
    exclude = ("organization",)


class PlayQuestionInline(PlayChildInline):
    model = PlayQuestion


class PlayStepInline(PlayChildInline):
    model = PlayStep
    raw_id_fields = ("stage",)
    can_delete = False  # deleting a step takes it out of the plans: the step admin does it properly


@admin.register(Play)
class PlayAdmin(admin.ModelAdmin):
    form = PlayForm
    list_display = ("name", "playbook", "priority", "active", "version", "organization", "updated_at")
    list_filter = ("active", "organization")
    search_fields = ("name", "playbook__name")
    list_select_related = ("playbook", "organization")
    raw_id_fields = ("playbook", "target_stage")
    exclude = ("organization",)
    readonly_fields = ("version", "created_at", "updated_at")
    inlines = [PlayQuestionInline, PlayStepInline]

    def save_model(self, request, obj, form, change):
        obj.organization_id = obj.playbook.organization_id
        if change:
            # What the triggering's parse cache goes by (see playbooks.triggering.conditions).
            obj.version += 1
            obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)

    def save_formset(self, request, form, formset, change):
        for child in formset.save(commit=False):
            child.organization_id = form.instance.organization_id
            child.save()
        for child in formset.deleted_objects:
            child.delete()

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        # Condition, active flag or steps may have changed: the run finds out what differs, if anything.
        play_evaluation_request(play=form.instance)


class PlayChildForm(SameOrganizationForm):
    org_source = "play"


class PlayChildAdmin(admin.ModelAdmin):
    form = PlayChildForm
    exclude = ("organization",)
    raw_id_fields = ("play",)
    list_select_related = ("play", "organization")

    def save_model(self, request, obj, form, change):
        obj.organization_id = obj.play.organization_id
        super().save_model(request, obj, form, change)


@admin.register(PlayQuestion)
class PlayQuestionAdmin(PlayChildAdmin):
    list_display = ("text", "play", "order", "organization")
    list_filter = ("organization",)
    search_fields = ("text", "play__name")


class PlayResourceForm(PlayChildForm):
    def clean(self):
        cleaned = super().clean()
        if bool(cleaned.get("url")) == bool(cleaned.get("file")):
            raise forms.ValidationError("Give either a link or a file.")
        return cleaned


@admin.register(PlayResource)
class PlayResourceAdmin(PlayChildAdmin):
    form = PlayResourceForm
    # A link typed without a scheme is https, as in the play editor (and Django 6's default).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ("title", "play", "url", "file", "order", "organization")
    list_filter = ("organization",)
    search_fields = ("title", "play__name")


@admin.register(PlayStep)
class PlayStepAdmin(PlayChildAdmin):
    list_display = ("title", "play", "stage", "order", "organization")
    list_filter = ("organization",)
    search_fields = ("title", "play__name")
    raw_id_fields = ("play", "stage")

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        play_evaluation_request(play=obj.play)

    def delete_model(self, request, obj):
        play_step_delete(step=obj, by=None)

    def delete_queryset(self, request, queryset):
        for step in queryset:
            play_step_delete(step=step, by=None)


@admin.register(DealPlay)
class DealPlayAdmin(ReadOnlyAdmin):
    list_display = ("play", "deal", "attached_at", "detached_at", "organization")
    list_filter = ("organization", ("detached_at", admin.EmptyFieldListFilter))
    search_fields = ("play__name", "deal__name")
    list_select_related = ("play", "deal", "organization")
    show_full_result_count = False


@admin.register(PlayAnswer)
class PlayAnswerAdmin(ReadOnlyAdmin):
    list_display = ("question", "deal", "text", "answered_by", "answered_at")
    list_filter = ("organization",)
    search_fields = ("text", "deal__name", "question__text")
    list_select_related = ("question", "deal", "answered_by")
    show_full_result_count = False


@admin.register(PlayEvaluationRun)
class PlayEvaluationRunAdmin(ReadOnlyAdmin):
    list_display = ("play", "status", "done", "total", "attached", "detached", "created_at", "finished_at")
    list_filter = ("status", "organization")
    search_fields = ("play__name",)
    list_select_related = ("play",)
