"""A deal's plays over the API: the plays attached to it now with everything a rep works from — why the
play applies, the talk track (Markdown source and sanitized HTML), the questions with this deal's
answers, the resources, and the steps with where the deal's plan stands on each — and the answers.

Anyone who can see the deal reads; answers are written by whoever may edit the deal (the service
checks: its owner, their manager, an admin)."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.common import DealScopedMixin
from deals.api.serializers import ErrorSerializer, RefSerializer, UserRefSerializer
from deals.models import DealStep
from playbooks.api.common import question_queryset
from playbooks.api.content import ResourceOutputSerializer
from playbooks.markdown import render_markdown
from playbooks.selectors import deal_plays_attached
from playbooks.services import play_answer_set
from salesproc.lib.api_scoping import request_org
from salesproc.lib.scoping import get_for_org_or_404

NOT_EDITOR = OpenApiResponse(ErrorSerializer, description="You may read this deal but not change it")


class DealPlayAnswerSerializer(serializers.Serializer):
    question = serializers.IntegerField(source="question_id")
    text = serializers.CharField()
    answered_by = UserRefSerializer(allow_null=True)
    answered_at = serializers.DateTimeField()


class DealPlayQuestionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    text = serializers.CharField()
    order = serializers.IntegerField()
    answer = DealPlayAnswerSerializer(allow_null=True, help_text="This deal's answer, if any")


class DealStepStateSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The plan line (PATCH /api/steps/{id}/ ticks it)")
    done = serializers.BooleanField(source="is_done")
    completed_at = serializers.DateTimeField(allow_null=True)
    completed_by = UserRefSerializer(allow_null=True)


class DealPlayStepSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    title = serializers.CharField()
    description = serializers.CharField()
    stage = serializers.IntegerField(source="stage_id", allow_null=True)
    order = serializers.IntegerField()
    deal_step = DealStepStateSerializer(
        allow_null=True, help_text="The line of this deal's plan made from the step; null when it has none"
    )


class DealPlayPlaySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    priority = serializers.IntegerField()
    playbook = RefSerializer()


class DealPlayOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The attachment's id")
    play = DealPlayPlaySerializer()
    attached_at = serializers.DateTimeField()
    why = serializers.ListField(
        child=serializers.CharField(), help_text="The parts of the play's condition that held for this deal"
    )
    talk_track = serializers.CharField(source="play.talk_track", help_text="Markdown source")
    talk_track_html = serializers.SerializerMethodField()
    questions = DealPlayQuestionSerializer(source="play.questions.all", many=True)
    resources = ResourceOutputSerializer(source="play.resources.all", many=True)
    steps = DealPlayStepSerializer(source="play.steps.all", many=True)

    def get_talk_track_html(self, deal_play) -> str:
        """The talk track rendered from Markdown and sanitized (safe to insert as HTML)."""
        return str(render_markdown(deal_play.play.talk_track))


def deal_plays_body(deal) -> list[dict]:
    """The deal's attached plays as the API shows them. `deal_plays_attached` (at most five queries)
    plus one for the deal's plan lines made from those plays' steps, whatever the number of plays."""
    rows = deal_plays_attached(deal=deal)
    step_ids = [step.pk for row in rows for step in row.play.steps.all()]
    lines = {}
    if step_ids:
        lines = {
            line.play_step_id: line
            for line in DealStep.objects.filter(deal_id=deal.pk, play_step_id__in=step_ids)
            .select_related("completed_by")
            .order_by("id")
        }
    for row in rows:
        for step in row.play.steps.all():
            step.deal_step = lines.get(step.pk)
    return DealPlayOutputSerializer(rows, many=True).data


@extend_schema(tags=["playbooks"])
class DealPlaysApi(DealScopedMixin, APIView):
    """The plays attached to the deal now, highest priority first."""

    @extend_schema(responses=DealPlayOutputSerializer(many=True))
    def get(self, request, deal_id: int):
        return Response(deal_plays_body(self.deal))


class PlayAnswerInputSerializer(serializers.Serializer):
    text = serializers.CharField(max_length=5000, allow_blank=True, help_text="Empty clears the answer")


class PlayAnswerOutputSerializer(serializers.Serializer):
    question = serializers.IntegerField()
    text = serializers.CharField(help_text="Empty: no answer")
    answered_by = UserRefSerializer(allow_null=True)
    answered_at = serializers.DateTimeField(allow_null=True)


@extend_schema(tags=["playbooks"])
class DealPlayAnswerApi(DealScopedMixin, APIView):
    """The deal's answer to one question of a play attached to it. Both ids are looked up in the
    caller's organization before anything else: another organization's deal or question is a 404."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        self.question = get_for_org_or_404(
            question_queryset(request_org(request)), request_org(request), pk=kwargs["question_id"]
        )

    @extend_schema(
        request=PlayAnswerInputSerializer,
        responses={
            200: PlayAnswerOutputSerializer,
            400: OpenApiResponse(description="The question's play is not attached to this deal"),
            403: NOT_EDITOR,
        },
        description="Record the deal's answer (or clear it with empty text). The deal's owner, their "
        "manager or an admin; the question's play must be attached to the deal now.",
    )
    def put(self, request, deal_id: int, question_id: int):
        data = PlayAnswerInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        answer = play_answer_set(
            deal=self.deal, question=self.question, text=data.validated_data["text"], by=request.membership
        )
        body = {
            "question": self.question.pk,
            "text": answer.text if answer else "",
            "answered_by": request.user if answer else None,
            "answered_at": answer.answered_at if answer else None,
        }
        return Response(PlayAnswerOutputSerializer(body).data)
