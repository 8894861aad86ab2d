"""The strategy pillar's pages: the deal page's strategy section and the notifications."""

from django.urls import path

from strategy import views

urlpatterns = [
    path("deals/<int:deal_id>/strategy/", views.strategy_view, name="deal_strategy"),
    path("deals/<int:deal_id>/strategy/comments/", views.strategy_comments, name="deal_strategy_comments"),
    path("team/", views.team_page, name="team"),
    path("notifications/", views.notification_list, name="notification_list"),
    path("notifications/read/", views.notifications_read_all, name="notifications_read_all"),
    path("notifications/<int:notification_id>/read/", views.notification_read, name="notification_read"),
]
