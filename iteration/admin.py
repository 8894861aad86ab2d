"""Django admin for the iteration pillar. Imports, runs, snapshots and flags are written by their jobs
and are read-only here; stall rules may be edited (they are plain settings); suggestions are applied
or dismissed on the insights page, where the process services record the new version."""

from django.contrib import admin

from iteration.models import HistoryImport, MetricRun, MetricSnapshot, StallFlag, StallRule, Suggestion
from salesproc.admin import ReadOnlyAdmin


@admin.register(HistoryImport)
class HistoryImportAdmin(ReadOnlyAdmin):
    list_display = ("id", "organization", "process", "status", "progress", "deals_filename", "created_at")
    list_filter = ("status", "organization")
    search_fields = ("deals_filename", "history_filename", "process__name")
    exclude = ("deals_data", "history_data")


@admin.register(MetricRun)
class MetricRunAdmin(ReadOnlyAdmin):
    list_display = ("id", "organization", "process", "status", "progress", "created_at", "finished_at")
    list_filter = ("status", "organization")
    search_fields = ("process__name",)


@admin.register(MetricSnapshot)
class MetricSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("process", "organization", "computed_at")
    list_filter = ("organization",)
    search_fields = ("process__name",)


@admin.register(StallRule)
class StallRuleAdmin(admin.ModelAdmin):
    list_display = (
        "stage",
        "kind",
        "enabled",
        "advice_days",
        "warning_days",
        "red_flag_days",
        "organization",
    )
    list_filter = ("kind", "enabled", "organization")
    search_fields = ("stage__name",)
    list_select_related = ("stage", "organization")

    def save_model(self, request, obj, form, change):
        # A rule belongs to its stage's organization.
        obj.organization_id = obj.stage.organization_id
        super().save_model(request, obj, form, change)

    def get_exclude(self, request, obj=None):
        return ("organization",)


@admin.register(StallFlag)
class StallFlagAdmin(ReadOnlyAdmin):
    list_display = ("deal", "rule", "level", "days", "threshold", "since", "snoozed_until", "organization")
    list_filter = ("rule", "level", "organization")
    search_fields = ("deal__name", "reason")
    list_select_related = ("deal", "organization")


@admin.register(Suggestion)
class SuggestionAdmin(ReadOnlyAdmin):
    list_display = ("title", "kind", "status", "process", "created_at", "decided_at", "organization")
    list_filter = ("kind", "status", "organization")
    search_fields = ("title", "process__name")
