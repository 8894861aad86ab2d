"""Pages of plays on deals: the deal page's plays section and a play's page."""

from django.urls import path

from playbooks.views import deal_plays, play_page

urlpatterns = [
    path("plays/<int:play_id>/", play_page.play_detail, name="play_detail"),
    path("deals/<int:deal_id>/plays/", deal_plays.deal_plays_view, name="deal_plays"),
    path(
        "deals/<int:deal_id>/plays/questions/<int:question_id>/answer/",
        deal_plays.play_answer_view,
        name="play_answer",
    ),
]
