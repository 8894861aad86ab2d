"""The journey over the API: a won deal's value conversations (list; POST plans one per stakeholder,
or with `stakeholder` a follow-up with one), recording a held conversation (PATCH), rescheduling one
still to hold, and opening an expansion deal from one (POST → 201).

Every id is looked up in the caller's organization before the method is dispatched, so another
organization's id is a 404 whatever the method. Writes go through journey.services: bad input is a
400 naming the field, a role that may not write a 403."""

from django.urls import path
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.common import DealScopedMixin
from deals.api.serializers import ErrorSerializer
from deals.models import DealStakeholder
from journey.models import ValueConfirmation
from journey.selectors import deal_phase
from journey.services import (
    expansion_deal_create,
    value_confirmation_record,
    value_confirmation_reschedule,
    value_followup_plan,
    value_plan_create,
)
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org
from salesproc.lib.errors import InvalidInput
from salesproc.models import Process

NOT_ALLOWED = OpenApiResponse(ErrorSerializer, description="Your role may not do this")


class ValueConfirmationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deal = serializers.IntegerField(source="deal_id")
    stakeholder = serializers.IntegerField(source="stakeholder_id")
    contact_name = serializers.CharField(source="stakeholder.contact.name")
    planned_for = serializers.DateField()
    held_at = serializers.DateField(allow_null=True)
    confirmed_value = serializers.CharField()
    metric_name = serializers.CharField()
    metric_value = serializers.DecimalField(max_digits=18, decimal_places=2, allow_null=True)
    next_opportunity = serializers.CharField()
    created_at = serializers.DateTimeField()


class ValuePlanOutputSerializer(serializers.Serializer):
    phase = serializers.CharField(help_text="change, decision or value (a won deal)")
    confirmations = ValueConfirmationOutputSerializer(many=True)


class RecordInputSerializer(serializers.Serializer):
    # Loose types on purpose: journey.services validates and names the field in its messages.
    held_at = serializers.CharField(required=True, allow_blank=True, allow_null=True)
    confirmed_value = serializers.CharField(required=True, allow_blank=True, allow_null=True)
    metric_name = serializers.CharField(required=False, allow_blank=True, allow_null=True, default="")
    metric_value = serializers.CharField(required=False, allow_blank=True, allow_null=True, default=None)
    next_opportunity = serializers.CharField(required=False, allow_blank=True, allow_null=True, default="")


class PlanInputSerializer(serializers.Serializer):
    stakeholder = serializers.IntegerField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Plan a follow-up with this stakeholder of the deal only (the last one was held)",
    )
    planned_for = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        default=None,
        help_text="YYYY-MM-DD, today or later; default: 30 days out for the plan, 90 for a follow-up",
    )


class RescheduleInputSerializer(serializers.Serializer):
    planned_for = serializers.CharField(
        allow_blank=True, allow_null=True, help_text="YYYY-MM-DD, today or later"
    )


class ExpansionInputSerializer(serializers.Serializer):
    process = serializers.IntegerField(help_text="A process of your organization")
    name = serializers.CharField(
        required=False, allow_blank=True, max_length=200, help_text="Default: the opportunity"
    )


class ExpansionOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    from_deal = serializers.IntegerField()
    confirmation = serializers.IntegerField()


def _confirmations(deal):
    return list(
        ValueConfirmation.objects.filter(deal=deal)
        .select_related("stakeholder__contact")
        .order_by("planned_for", "id")
    )


@extend_schema(tags=["journey"])
class DealValueConfirmationsApi(DealScopedMixin, APIView):
    def get_scoped_queryset(self):
        return super().get_scoped_queryset().select_related("stage")

    def _body(self):
        return ValuePlanOutputSerializer(
            {"phase": deal_phase(self.deal), "confirmations": _confirmations(self.deal)}
        ).data

    @extend_schema(responses={200: ValuePlanOutputSerializer})
    def get(self, request, deal_id: int):
        """The deal's phase and its value conversations (none before the win). Every member reads."""
        return Response(self._body())

    @extend_schema(request=PlanInputSerializer, responses={201: ValuePlanOutputSerializer, 403: NOT_ALLOWED})
    def post(self, request, deal_id: int):
        """Without `stakeholder`: plan one value conversation per stakeholder of the won deal;
        idempotent (a stakeholder with one gets no second). With `stakeholder`: plan the next
        conversation with that stakeholder (refused while one is still to hold). `planned_for`
        optional. The deal's owner, their manager and admins."""
        data = PlanInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stakeholder_id = data.validated_data["stakeholder"]
        planned_for = data.validated_data["planned_for"]
        if stakeholder_id is None:
            value_plan_create(deal=self.deal, by=request.membership, planned_for=planned_for)
        else:
            stakeholder = (
                DealStakeholder.objects.filter(deal=self.deal, pk=stakeholder_id)
                .select_related("contact")
                .first()
            )
            if stakeholder is None:
                raise InvalidInput({"stakeholder": ["That person is not a stakeholder on this deal."]})
            value_followup_plan(
                deal=self.deal, stakeholder=stakeholder, by=request.membership, planned_for=planned_for
            )
        return Response(self._body(), status=status.HTTP_201_CREATED)


class ConfirmationScopedMixin(ScopedObjectMixin):
    scoped_attr = "confirmation"
    scoped_url_kwarg = "confirmation_id"

    def get_scoped_queryset(self):
        return ValueConfirmation.objects.for_org(request_org(self.request)).select_related(
            "stakeholder__contact"
        )


@extend_schema(tags=["journey"])
class ValueConfirmationDetailApi(ConfirmationScopedMixin, APIView):
    @extend_schema(responses={200: ValueConfirmationOutputSerializer})
    def get(self, request, confirmation_id: int):
        """One value conversation."""
        return Response(ValueConfirmationOutputSerializer(self.confirmation).data)

    @extend_schema(
        request=RecordInputSerializer, responses={200: ValueConfirmationOutputSerializer, 403: NOT_ALLOWED}
    )
    def patch(self, request, confirmation_id: int):
        """Record the held conversation: `held_at` (YYYY-MM-DD, not in the future) and
        `confirmed_value` required; `metric_name`, `metric_value`, `next_opportunity` optional.
        Nothing is written on bad input."""
        data = RecordInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        value_confirmation_record(
            confirmation=self.confirmation, by=request.membership, **data.validated_data
        )
        return Response(ValueConfirmationOutputSerializer(self.confirmation).data)


@extend_schema(tags=["journey"])
class RescheduleApi(ConfirmationScopedMixin, APIView):
    @extend_schema(
        request=RescheduleInputSerializer,
        responses={200: ValueConfirmationOutputSerializer, 403: NOT_ALLOWED},
    )
    def post(self, request, confirmation_id: int):
        """Move a conversation still to hold to `planned_for` (today or later). A held one is a 400."""
        data = RescheduleInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        value_confirmation_reschedule(
            confirmation=self.confirmation,
            by=request.membership,
            planned_for=data.validated_data["planned_for"],
        )
        return Response(ValueConfirmationOutputSerializer(self.confirmation).data)


@extend_schema(tags=["journey"])
class ExpansionDealApi(ConfirmationScopedMixin, APIView):
    @extend_schema(
        request=ExpansionInputSerializer, responses={201: ExpansionOutputSerializer, 403: NOT_ALLOWED}
    )
    def post(self, request, confirmation_id: int):
        """Open an expansion deal on the same account from this recorded conversation, in `process`,
        named from its next opportunity; it is linked to the original deal. One per conversation."""
        data = ExpansionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        process = (
            Process.objects.for_org(request_org(request)).filter(pk=data.validated_data["process"]).first()
        )
        deal = expansion_deal_create(
            confirmation=self.confirmation,
            by=request.membership,
            process=process,
            name=data.validated_data.get("name"),
        )
        body = {
            "id": deal.id,
            "name": deal.name,
            "from_deal": self.confirmation.deal_id,
            "confirmation": self.confirmation.id,
        }
        return Response(ExpansionOutputSerializer(body).data, status=status.HTTP_201_CREATED)


urlpatterns = [
    path(
        "deals/<int:deal_id>/value-confirmations/",
        DealValueConfirmationsApi.as_view(),
        name="deal_value_confirmations",
    ),
    path(
        "value-confirmations/<int:confirmation_id>/",
        ValueConfirmationDetailApi.as_view(),
        name="value_confirmation_detail",
    ),
    path(
        "value-confirmations/<int:confirmation_id>/reschedule/",
        RescheduleApi.as_view(),
        name="value_confirmation_reschedule_api",
    ),
    path(
        "value-confirmations/<int:confirmation_id>/expansion-deal/",
        ExpansionDealApi.as_view(),
        name="value_confirmation_expansion_deal",
    ),
]
