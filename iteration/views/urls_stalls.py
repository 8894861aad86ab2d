"""Pages for stalls: the stalled deals list, snoozing a flag, and the ops page of stall rules."""

from django.urls import path

from iteration.views import stalls

urlpatterns = [
    path("stalls/", stalls.stalled_list, name="stalled_list"),
    path("stalls/<int:flag_id>/snooze/", stalls.flag_snooze, name="stall_flag_snooze"),
    path("stalls/rules/", stalls.stall_rules, name="stall_rules"),
    path("stalls/rules/stages/<int:stage_id>/", stalls.stage_stall_rules, name="stage_stall_rules"),
]
