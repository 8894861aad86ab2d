"""Routes of the playbooks API; they join /api/ under the api namespace. Every id is looked up in the
caller's organization before the method is dispatched (another organization's id is a 404)."""

from django.urls import path

from playbooks.api import content, deals, evaluation, playbooks, plays

urlpatterns = [
    path("playbooks/", playbooks.PlaybookListCreateApi.as_view(), name="playbook_list"),
    path("playbooks/<int:playbook_id>/", playbooks.PlaybookDetailApi.as_view(), name="playbook_detail"),
    path("playbooks/<int:playbook_id>/plays/", plays.PlaybookPlaysApi.as_view(), name="playbook_plays"),
    path("plays/preview/", evaluation.PlayPreviewApi.as_view(), name="play_preview"),
    path("plays/<int:play_id>/", plays.PlayDetailApi.as_view(), name="play_detail"),
    path("plays/<int:play_id>/activate/", plays.PlayActivateApi.as_view(), name="play_activate"),
    path("plays/<int:play_id>/deactivate/", plays.PlayDeactivateApi.as_view(), name="play_deactivate"),
    path("plays/<int:play_id>/questions/", content.PlayQuestionsApi.as_view(), name="play_questions"),
    path(
        "plays/<int:play_id>/questions/order/",
        content.PlayQuestionsOrderApi.as_view(),
        name="play_questions_order",
    ),
    path("plays/<int:play_id>/resources/", content.PlayResourcesApi.as_view(), name="play_resources"),
    path("plays/<int:play_id>/steps/", content.PlayStepsApi.as_view(), name="play_steps"),
    path("plays/<int:play_id>/steps/order/", content.PlayStepsOrderApi.as_view(), name="play_steps_order"),
    path("plays/<int:play_id>/deals/", evaluation.PlayDealsApi.as_view(), name="play_deals"),
    path(
        "plays/<int:play_id>/effectiveness/",
        evaluation.PlayEffectivenessApi.as_view(),
        name="play_effectiveness",
    ),
    path(
        "play-questions/<int:question_id>/",
        content.PlayQuestionDetailApi.as_view(),
        name="play_question_detail",
    ),
    path(
        "play-resources/<int:resource_id>/",
        content.PlayResourceDetailApi.as_view(),
        name="play_resource_detail",
    ),
    path(
        "play-resources/<int:resource_id>/file/",
        content.PlayResourceFileApi.as_view(),
        name="play_resource_file",
    ),
    path("play-steps/<int:play_step_id>/", content.PlayStepDetailApi.as_view(), name="play_step_detail"),
    path(
        "play-evaluation-runs/<int:evaluation_run_id>/",
        evaluation.PlayEvaluationRunDetailApi.as_view(),
        name="play_evaluation_run_detail",
    ),
    path("deals/<int:deal_id>/plays/", deals.DealPlaysApi.as_view(), name="deal_plays"),
    path(
        "deals/<int:deal_id>/play-answers/<int:question_id>/",
        deals.DealPlayAnswerApi.as_view(),
        name="deal_play_answer",
    ),
]
