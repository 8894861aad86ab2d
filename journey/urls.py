"""The journey's pages: the deal page's journey section and its actions."""

from django.urls import path

from journey import views

urlpatterns = [
    path("deals/<int:deal_id>/journey/", views.deal_journey_view, name="deal_journey"),
    path("deals/<int:deal_id>/value-plan/", views.value_plan_view, name="value_plan_create"),
    path(
        "deals/<int:deal_id>/value-confirmations/<int:confirmation_id>/record/",
        views.value_confirmation_record_view,
        name="value_confirmation_record",
    ),
    path(
        "deals/<int:deal_id>/value-plan/stakeholders/<int:stakeholder_id>/follow-up/",
        views.value_followup_view,
        name="value_followup_plan",
    ),
    path(
        "deals/<int:deal_id>/value-confirmations/<int:confirmation_id>/reschedule/",
        views.value_confirmation_reschedule_view,
        name="value_confirmation_reschedule",
    ),
    path(
        "deals/<int:deal_id>/value-confirmations/<int:confirmation_id>/expansion/",
        views.expansion_deal_view,
        name="expansion_deal_create",
    ),
]
