"""Django admin for scorecards, for support. The scorecard page is the place to edit one; edits here
still take the organization from the process and recompute every deal's score and result, so the
stored numbers stay what the answers give. Deals' scorecards and answers are read-only here: they
change through the deal page or the API (scorecards.services)."""

from django.contrib import admin

from salesproc.admin import ChildrenInheritOrganization, ReadOnlyAdmin
from scorecards.lock_objects import scorecard_for_update
from scorecards.models import DealScorecard, DealScorecardAnswer, Scorecard, ScorecardCriterion
from scorecards.scoring import deal_scorecards_recompute


def _recompute(scorecard_id: int) -> None:
    # The admin's change view runs in a transaction: the lock holds until it commits.
    deal_scorecards_recompute(scorecard=scorecard_for_update(scorecard_id))


class ScorecardCriterionInline(admin.TabularInline):
    model = ScorecardCriterion
    extra = 0
    fields = ("order", "label", "weight", "scale", "max_points", "help_text")
    ordering = ("order", "id")


@admin.register(Scorecard)
class ScorecardAdmin(ChildrenInheritOrganization, admin.ModelAdmin):
    list_display = ("name", "process", "threshold", "active", "organization")
    list_filter = ("active", "organization")
    search_fields = ("name", "process__name", "organization__name")
    list_select_related = ("process", "organization")
    autocomplete_fields = ("process",)
    exclude = ("organization",)
    inlines = [ScorecardCriterionInline]

    def get_readonly_fields(self, request, obj=None):
        return ("process",) if obj else ()

    def save_model(self, request, obj, form, change):
        obj.organization_id = obj.process.organization_id
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        _recompute(form.instance.pk)


@admin.register(ScorecardCriterion)
class ScorecardCriterionAdmin(admin.ModelAdmin):
    list_display = ("label", "scorecard", "weight", "scale", "max_points", "order", "organization")
    list_filter = ("scale", "organization")
    search_fields = ("label", "scorecard__name", "scorecard__process__name")
    list_select_related = ("scorecard", "organization")
    autocomplete_fields = ("scorecard",)
    exclude = ("organization",)

    def get_readonly_fields(self, request, obj=None):
        return ("scorecard",) if obj else ()

    def save_model(self, request, obj, form, change):
        obj.organization_id = obj.scorecard.organization_id
        super().save_model(request, obj, form, change)
        _recompute(obj.scorecard_id)

    def delete_model(self, request, obj):
        scorecard_id = obj.scorecard_id
        super().delete_model(request, obj)
        _recompute(scorecard_id)

    def delete_queryset(self, request, queryset):
        scorecard_ids = set(queryset.values_list("scorecard_id", flat=True))
        super().delete_queryset(request, queryset)
        for scorecard_id in sorted(scorecard_ids):
            _recompute(scorecard_id)


@admin.register(DealScorecard)
class DealScorecardAdmin(ReadOnlyAdmin):
    list_display = ("deal", "scorecard", "score", "result", "updated_at", "organization")
    list_filter = ("result", "organization")
    search_fields = ("deal__name", "scorecard__name")
    list_select_related = ("deal", "scorecard", "organization")


@admin.register(DealScorecardAnswer)
class DealScorecardAnswerAdmin(ReadOnlyAdmin):
    list_display = ("deal_scorecard", "criterion", "value", "by", "at", "organization")
    list_filter = ("organization",)
    search_fields = ("criterion__label", "deal_scorecard__deal__name", "note")
    list_select_related = ("deal_scorecard", "criterion", "by", "organization")
