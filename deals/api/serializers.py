"""Output serializers shared by several deal endpoints, and the error bodies they document.

The list serializer reads only what the list queryset loads (select_related and one tag prefetch), so
serializing a page runs no query per row."""

from rest_framework import serializers

from deals.models import Deal, DealStatus, TagKind
from salesproc.models import CriterionKind, Importance


class RefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(source="display_name")


def deal_tag_values(deal: Deal, kind: str) -> list[str]:
    """The deal's competitors or objections from the `prefetched_tags` the deal querysets load."""
    return [tag.value for tag in deal.prefetched_tags if tag.kind == kind]


class DealListOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=DealStatus.choices)
    version = serializers.IntegerField(help_text="Send it back with every write (optimistic lock)")
    process = serializers.IntegerField(source="process_id")
    stage = RefSerializer()
    owner = UserRefSerializer()
    account = RefSerializer()
    expected_close = serializers.DateField(allow_null=True)
    stage_entered_at = serializers.DateTimeField()
    last_activity_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    competitors = serializers.SerializerMethodField()
    objections = serializers.SerializerMethodField()

    def get_competitors(self, deal) -> list[str]:
        return deal_tag_values(deal, TagKind.COMPETITOR)

    def get_objections(self, deal) -> list[str]:
        return deal_tag_values(deal, TagKind.OBJECTION)


class DealDetailOutputSerializer(DealListOutputSerializer):
    industry = serializers.CharField()
    budget = serializers.DecimalField(max_digits=14, decimal_places=2, allow_null=True)
    lead_source = serializers.CharField()
    description = serializers.CharField()
    lost_reason = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()


class StaleVersionErrorSerializer(ErrorSerializer):
    current_version = serializers.IntegerField(help_text="Reload the deal and retry with this version")


class UnmetCriterionSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()
    kind = serializers.ChoiceField(choices=CriterionKind.choices)
    importance = serializers.ChoiceField(choices=Importance.choices)
    met = serializers.BooleanField()
    hint = serializers.CharField(help_text="What to do to meet it")


class CriteriaUnmetErrorSerializer(ErrorSerializer):
    unmet_criteria = UnmetCriterionSerializer(many=True)
    can_override = serializers.BooleanField(
        help_text="True when the caller may move anyway by sending an override_reason"
    )
