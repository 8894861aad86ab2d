"""Routes of the scorecards API; they join /api/ under the api namespace."""

from django.urls import path

from scorecards import api

urlpatterns = [
    path(
        "processes/<int:process_id>/scorecard/", api.ProcessScorecardApi.as_view(), name="process_scorecard"
    ),
    path(
        "processes/<int:process_id>/scorecard/criteria/",
        api.ScorecardCriteriaApi.as_view(),
        name="scorecard_criteria",
    ),
    path(
        "processes/<int:process_id>/scorecard/criteria/order/",
        api.ScorecardCriteriaOrderApi.as_view(),
        name="scorecard_criteria_order",
    ),
    path(
        "processes/<int:process_id>/scorecard/win-rates/",
        api.ScorecardWinRatesApi.as_view(),
        name="scorecard_win_rates",
    ),
    path(
        "scorecard-criteria/<int:scorecard_criterion_id>/",
        api.ScorecardCriterionDetailApi.as_view(),
        name="scorecard_criterion_detail",
    ),
    path("deals/<int:deal_id>/scorecard/", api.DealScorecardApi.as_view(), name="deal_scorecard"),
]
