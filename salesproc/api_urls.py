"""The REST API under /api/: one view per resource or action; ids in URLs are org-scoped (a 404 for
another organization's object). OpenAPI at /api/schema/, browsable docs at /api/docs/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from deals.api import deals, network, people, plan
from orgs.api import MeApi, TokenApi
from salesproc.api import ProcessDetailApi, ProcessImportApi, ProcessListApi

app_name = "api"

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
    path("auth/token/", TokenApi.as_view(), name="token"),
    path("me/", MeApi.as_view(), name="me"),
    path("processes/", ProcessListApi.as_view(), name="process_list"),
    path("processes/import/", ProcessImportApi.as_view(), name="process_import"),
    path("processes/<int:process_id>/", ProcessDetailApi.as_view(), name="process_detail"),
    path("accounts/", people.AccountListCreateApi.as_view(), name="account_list"),
    path("accounts/<int:account_id>/", people.AccountDetailApi.as_view(), name="account_detail"),
    path("contacts/", people.ContactListCreateApi.as_view(), name="contact_list"),
    path("contacts/<int:contact_id>/", people.ContactDetailApi.as_view(), name="contact_detail"),
    path("deals/", deals.DealListCreateApi.as_view(), name="deal_list"),
    path("deals/<int:deal_id>/", deals.DealDetailApi.as_view(), name="deal_detail"),
    path("deals/<int:deal_id>/move/", deals.DealMoveApi.as_view(), name="deal_move"),
    path("deals/<int:deal_id>/win/", deals.DealWinApi.as_view(), name="deal_win"),
    path("deals/<int:deal_id>/lose/", deals.DealLoseApi.as_view(), name="deal_lose"),
    path("deals/<int:deal_id>/criteria/", deals.DealCriteriaApi.as_view(), name="deal_criteria"),
    path("deals/<int:deal_id>/answers/", deals.DealAnswerApi.as_view(), name="deal_answers"),
    path("deals/<int:deal_id>/activities/", plan.DealActivityListCreateApi.as_view(), name="deal_activities"),
    path("deals/<int:deal_id>/steps/", plan.DealStepListCreateApi.as_view(), name="deal_steps"),
    path("deals/<int:deal_id>/steps/reorder/", plan.DealStepReorderApi.as_view(), name="deal_steps_reorder"),
    path(
        "deals/<int:deal_id>/stakeholders/",
        plan.DealStakeholderListCreateApi.as_view(),
        name="deal_stakeholders",
    ),
    path(
        "deals/<int:deal_id>/stakeholder-map/",
        network.DealStakeholderMapApi.as_view(),
        name="deal_stakeholder_map",
    ),
    path("steps/<int:step_id>/", plan.StepDetailApi.as_view(), name="step_detail"),
    path("steps/<int:step_id>/comments/", plan.StepCommentListCreateApi.as_view(), name="step_comments"),
    path("step-comments/<int:comment_id>/", plan.StepCommentDetailApi.as_view(), name="step_comment_detail"),
    path(
        "stakeholders/<int:stakeholder_id>/", plan.StakeholderDetailApi.as_view(), name="stakeholder_detail"
    ),
    path("", include("iteration.api.imports")),
    path("", include("iteration.api.metrics")),
    path("", include("iteration.api.stalls")),
    path("", include("iteration.api.suggestions")),
    path("", include("playbooks.api.urls")),
    path("", include("strategy.api")),
    path("", include("scorecards.api_urls")),
    path("", include("journey.api")),
    path("", include("upstream.api")),
]
