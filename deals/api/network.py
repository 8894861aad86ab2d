"""A deal's stakeholder network over the API: the decision team and the gaps in it (deals.network)."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from deals.api.common import DealScopedMixin
from deals.models import Attitude, Deal, DealStakeholder, StakeholderRole
from deals.network import GAP_CODES, deal_gaps
from salesproc.lib.api_scoping import request_org


class MapStakeholderSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="contact.name")
    role = serializers.ChoiceField(choices=StakeholderRole.choices)
    influence = serializers.IntegerField(help_text="1 (low) to 5 (high)")
    attitude = serializers.ChoiceField(choices=Attitude.choices)
    desired_results = serializers.CharField()
    wins = serializers.CharField(help_text="What this person wins personally")


class GapSerializer(serializers.Serializer):
    code = serializers.ChoiceField(choices=[(c, c) for c in GAP_CODES])
    message = serializers.CharField()
    action = serializers.CharField(help_text="What to do about it")


class StakeholderMapOutputSerializer(serializers.Serializer):
    stakeholders = MapStakeholderSerializer(many=True)
    gaps = GapSerializer(many=True)


@extend_schema(tags=["deal plan"])
class DealStakeholderMapApi(DealScopedMixin, APIView):
    """The deal's decision team (most influential first) and the gaps in its stakeholder network."""

    def get_scoped_queryset(self):
        # The stage's phase decides the procurement gap.
        return Deal.objects.for_org(request_org(self.request)).select_related("stage")

    @extend_schema(responses=StakeholderMapOutputSerializer)
    def get(self, request, deal_id: int):
        stakeholders = list(
            DealStakeholder.objects.filter(deal=self.deal)
            .select_related("contact")
            .order_by("-influence", "id")
        )
        data = {"stakeholders": stakeholders, "gaps": deal_gaps(self.deal, stakeholders)}
        return Response(StakeholderMapOutputSerializer(data).data)
