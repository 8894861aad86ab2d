"""Django admin for the process definition.

The process pages are the place to edit a live process; the admin is for support. Edits made here
still record a ProcessVersion (the snapshot iteration compares), and children take their
organization from their parent, so the admin cannot break the invariants the services keep."""

from django import forms
from django.contrib import admin

from salesproc.models import ExitCriterion, Process, ProcessVersion, Stage
from salesproc.services import _lock_process, _record_version, _validate_criterion


class ReadOnlyAdmin(admin.ModelAdmin):
    """For append-only records: listed and viewed, never added, changed or deleted here."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


def record_admin_version(process: Process, request, what: str) -> None:
    """A new version when an admin edit changed the process (none when nothing did)."""
    _record_version(_lock_process(process), author=request.user, note=f"{what} in the Django admin")


class ExitCriterionForm(forms.ModelForm):
    def clean(self):
        cleaned = super().clean()
        fields = {
            k: cleaned.get(k) or ""
            for k in ("kind", "label", "field_name", "role", "activity_kind", "question")
        }
        fields["importance"] = cleaned.get("importance")
        for name, messages in _validate_criterion(fields).items():
            self.add_error(name if name in self.fields else None, messages)
        # _validate_criterion clears the parameters the kind does not use.
        for name in ("label", "field_name", "role", "activity_kind", "question"):
            if name in cleaned:
                cleaned[name] = fields[name]
        return cleaned


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0
    fields = ("order", "name", "phase", "probability", "expected_days")
    ordering = ("order",)
    show_change_link = True


class ExitCriterionInline(admin.StackedInline):
    model = ExitCriterion
    form = ExitCriterionForm
    extra = 0
    fields = (
        ("kind", "label", "importance", "order"),
        ("field_name", "role", "activity_kind"),
        "question",
        "description",
    )
    ordering = ("order", "id")


class ChildrenInheritOrganization:
    """Inline rows get the organization of the object they are edited under."""

    def save_formset(self, request, form, formset, change):
        for obj in formset.save(commit=False):
            obj.organization_id = form.instance.organization_id
            obj.save()
        for obj in formset.deleted_objects:
            obj.delete()


@admin.register(Process)
class ProcessAdmin(ChildrenInheritOrganization, admin.ModelAdmin):
    list_display = ("name", "organization", "is_active", "current_version", "created_at")
    list_filter = ("is_active", "organization")
    search_fields = ("name", "organization__name", "organization__slug")
    list_select_related = ("organization", "current_version__process")
    autocomplete_fields = ("organization",)
    readonly_fields = ("current_version",)
    inlines = [StageInline]

    def get_readonly_fields(self, request, obj=None):
        # A process does not move between organizations: its stages and deals would stay behind.
        return (*self.readonly_fields, "organization") if obj else self.readonly_fields

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        record_admin_version(form.instance, request, "Edited" if change else "Created")


@admin.register(Stage)
class StageAdmin(ChildrenInheritOrganization, admin.ModelAdmin):
    list_display = ("name", "process", "order", "phase", "probability", "expected_days", "organization")
    list_filter = ("phase", "organization")
    search_fields = ("name", "process__name", "organization__name")
    list_select_related = ("process", "organization")
    autocomplete_fields = ("process",)
    exclude = ("organization",)
    ordering = ("organization__name", "process__name", "order")
    inlines = [ExitCriterionInline]

    def get_readonly_fields(self, request, obj=None):
        return ("process",) if obj else ()

    def save_model(self, request, obj, form, change):
        obj.organization_id = obj.process.organization_id
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        record_admin_version(form.instance.process, request, f"Stage {form.instance.name} edited")

    def delete_model(self, request, obj):
        process = obj.process
        super().delete_model(request, obj)
        record_admin_version(process, request, f"Stage {obj.name} removed")

    def delete_queryset(self, request, queryset):
        processes = list(Process.objects.filter(stages__in=queryset).distinct())
        super().delete_queryset(request, queryset)
        for process in processes:
            record_admin_version(process, request, "Stages removed")


@admin.register(ExitCriterion)
class ExitCriterionAdmin(admin.ModelAdmin):
    form = ExitCriterionForm
    list_display = ("label", "stage", "kind", "importance", "order", "organization")
    list_filter = ("kind", "importance", "organization")
    search_fields = ("label", "question", "stage__name", "stage__process__name")
    list_select_related = ("stage", "organization")
    autocomplete_fields = ("stage",)
    exclude = ("organization",)

    def get_readonly_fields(self, request, obj=None):
        # Moving a criterion to another stage is a remove and an add: do it on the process pages.
        return ("stage",) if obj else ()

    def save_model(self, request, obj, form, change):
        obj.organization_id = obj.stage.organization_id
        super().save_model(request, obj, form, change)
        record_admin_version(obj.stage.process, request, f"Criterion {obj.label} edited")

    def delete_model(self, request, obj):
        process = obj.stage.process
        super().delete_model(request, obj)
        record_admin_version(process, request, f"Criterion {obj.label} removed")

    def delete_queryset(self, request, queryset):
        processes = list(Process.objects.filter(stages__criteria__in=queryset).distinct())
        super().delete_queryset(request, queryset)
        for process in processes:
            record_admin_version(process, request, "Criteria removed")


@admin.register(ProcessVersion)
class ProcessVersionAdmin(ReadOnlyAdmin):
    list_display = ("process", "number", "author", "created_at", "note", "organization")
    list_filter = ("organization",)
    search_fields = ("process__name", "note", "author__email")
    list_select_related = ("process", "author", "organization")
