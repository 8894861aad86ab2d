"""The upstream pages: the review page, one promotion, its decisions, and "Promote" on a deal's step."""

from django.urls import path

from upstream import views

urlpatterns = [
    path("upstream/", views.review_view, name="upstream_review"),
    path("upstream/<int:promotion_id>/", views.promotion_detail_view, name="promotion_detail"),
    path("upstream/<int:promotion_id>/accept/", views.promotion_accept_view, name="promotion_accept"),
    path("upstream/<int:promotion_id>/dismiss/", views.promotion_dismiss_view, name="promotion_dismiss"),
    path("deals/<int:deal_id>/steps/<int:step_id>/promote/", views.step_promote_view, name="step_promote"),
]
