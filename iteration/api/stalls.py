"""Stall flags and stall rules over the API.

- `GET /api/stalls/`: the flags the caller sees (a rep their own deals', a manager their team's, ops and
  admins the org's), worst first, one keyset page at a time; filters `level`, `rule`, `owner`
  (`me` or a user id) and `include_snoozed`.
- `POST /api/stalls/{flag_id}/snooze/`: `{reason, until}`; the deal's editors.
- `GET, PUT /api/stages/{stage_id}/stall-rules/`: a stage's threshold and three rules; PUT by ops and
  admins."""

from django.db import transaction
from django.urls import path
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.utils.urls import replace_query_param
from rest_framework.views import APIView

from deals.api.deals import NOT_ALLOWED
from deals.api.serializers import RefSerializer, UserRefSerializer
from iteration.models import StallFlag, StallLevel, StallRuleKind
from iteration.stalls import (
    KINDS,
    LEVEL_FIELDS,
    LEVELS,
    MAX_RULE_DAYS,
    flags_page,
    stall_flag_snooze,
    stall_rule_set,
    stall_rules_for_stage,
    visible_flags,
)
from salesproc.lib.api_scoping import ScopedObjectMixin, request_org
from salesproc.models import Stage

# ---- flags


class FlagDealSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    external_id = serializers.CharField(allow_null=True)
    account = RefSerializer()
    owner = UserRefSerializer()


class StallFlagOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    deal = FlagDealSerializer()
    stage = RefSerializer()
    rule = serializers.ChoiceField(choices=StallRuleKind.choices)
    level = serializers.ChoiceField(choices=StallLevel.choices)
    days = serializers.IntegerField(
        help_text="Whole days since the rule's moment (created, entered, last activity)"
    )
    threshold = serializers.FloatField(help_text="The days of the level reached: days are more than this")
    reason = serializers.CharField()
    since = serializers.DateTimeField(help_text="When the flag was first raised; kept while it persists")
    updated_at = serializers.DateTimeField()
    snoozed_until = serializers.DateField(allow_null=True)
    snooze_reason = serializers.CharField()
    snoozed_by = UserRefSerializer(allow_null=True)


class StallListFilterSerializer(serializers.Serializer):
    level = serializers.ChoiceField(choices=StallLevel.choices, required=False)
    rule = serializers.ChoiceField(choices=StallRuleKind.choices, required=False)
    owner = serializers.CharField(required=False, help_text='"me" or a user id')
    include_snoozed = serializers.BooleanField(required=False, default=False)
    cursor = serializers.CharField(required=False, max_length=80)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=200, default=50)

    def validate_owner(self, value: str):
        if value == "me":
            return value
        if value.isdigit() and 0 < int(value) < 2**63:
            return int(value)
        raise serializers.ValidationError('Use "me" or a user id.')


class StallPageSerializer(serializers.Serializer):
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = StallFlagOutputSerializer(many=True)


@extend_schema(tags=["stalls"])
class StallListApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("level", str, enum=StallLevel.values, description="Only this level"),
            OpenApiParameter("rule", str, enum=StallRuleKind.values, description="Only this rule"),
            OpenApiParameter("owner", str, description='Deals of this owner: "me" or a user id'),
            OpenApiParameter("include_snoozed", bool, description="Also flags snoozed until a later date"),
            OpenApiParameter("cursor", str, description="The `next` link's cursor"),
            OpenApiParameter("page_size", int, description="1–200, default 50"),
        ],
        responses=StallPageSerializer,
        description="The stall flags you see, worst first (level, then days): a rep their own deals', a "
        "manager their team's, ops and admins the organization's. Snoozed flags are left out unless "
        "`include_snoozed`. Keyset pages: follow `next`; there is no count.",
    )
    def get(self, request):
        params = StallListFilterSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        owner = data.get("owner")
        qs = visible_flags(
            membership=request.membership,
            level=data.get("level"),
            rule=data.get("rule"),
            owner_id=request.membership.user_id if owner == "me" else owner,
            include_snoozed=data["include_snoozed"],
        )
        flags, next_cursor = flags_page(qs, data.get("cursor"), data["page_size"])
        url = request.build_absolute_uri()
        next_url = replace_query_param(url, "cursor", next_cursor) if next_cursor else None
        return Response(
            {
                "next": next_url,
                "previous": None,  # keyset pages go forward; start again without `cursor`
                "results": StallFlagOutputSerializer(flags, many=True).data,
            }
        )


class SnoozeInputSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=300, help_text="Why the flag can wait")
    until = serializers.DateField(help_text="The flag shows again on this date; it must be in the future")


def flag_queryset(org):
    return StallFlag.objects.for_org(org).select_related(
        "deal", "deal__account", "deal__owner", "stage", "snoozed_by"
    )


@extend_schema(tags=["stalls"])
class StallSnoozeApi(ScopedObjectMixin, APIView):
    scoped_attr = "flag"
    scoped_url_kwarg = "flag_id"

    def get_scoped_queryset(self):
        return flag_queryset(request_org(self.request))

    @extend_schema(
        request=SnoozeInputSerializer,
        responses={200: StallFlagOutputSerializer, 403: NOT_ALLOWED},
        description="Hide the flag until `until` (a future date), with a reason. Reps snooze their own "
        "deals' flags, managers their team's. If the flag clears first, the snooze ends with it.",
    )
    def post(self, request, flag_id: int):
        data = SnoozeInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        stall_flag_snooze(flag=self.flag, by=request.membership, **data.validated_data)
        flag = flag_queryset(request_org(request)).get(pk=self.flag.pk)
        return Response(StallFlagOutputSerializer(flag).data)


# ---- rules


class RuleLevelsSerializer(serializers.Serializer):
    advice = serializers.FloatField(allow_null=True)
    warning = serializers.FloatField(allow_null=True)
    red_flag = serializers.FloatField(allow_null=True)


class StallRuleSerializer(serializers.Serializer):
    # `rule`, as on a flag (one name for one choice set in the schema).
    rule = serializers.ChoiceField(choices=StallRuleKind.choices)
    enabled = serializers.BooleanField(default=True)
    advice_days = serializers.IntegerField(
        min_value=1, max_value=MAX_RULE_DAYS, allow_null=True, default=None
    )
    warning_days = serializers.IntegerField(
        min_value=1, max_value=MAX_RULE_DAYS, allow_null=True, default=None
    )
    red_flag_days = serializers.IntegerField(
        min_value=1, max_value=MAX_RULE_DAYS, allow_null=True, default=None
    )


class StallRuleOutputSerializer(StallRuleSerializer):
    custom = serializers.BooleanField(help_text="False: the stage follows the defaults")
    levels = RuleLevelsSerializer(help_text="The days each level applies after, as the job uses them")


class ThresholdSerializer(serializers.Serializer):
    days = serializers.FloatField(allow_null=True)
    source = serializers.ChoiceField(choices=["expected_days", "p75", "none"])
    advanced = serializers.IntegerField(help_text="Deals that advanced from the stage (for p75)")


class StageStallRulesSerializer(serializers.Serializer):
    stage = RefSerializer()
    threshold = ThresholdSerializer()
    rules = StallRuleOutputSerializer(many=True)


class StageStallRulesInputSerializer(serializers.Serializer):
    rules = StallRuleSerializer(many=True)

    def validate_rules(self, rules):
        kinds = [r["rule"] for r in rules]
        if len(set(kinds)) != len(kinds):
            raise serializers.ValidationError("Name each rule at most once.")
        return rules


def stage_rules_body(stage: Stage) -> dict:
    """The GET body: `*_days` are what to PUT back to keep today's behaviour (the defaults' days for age
    and no activity; for stalled, empty means the threshold × 1, 1.5, 2); `levels` what applies."""
    threshold, rules = stall_rules_for_stage(stage=stage)
    out = []
    for kind in KINDS:
        rule = rules[kind]
        days = {}
        for level in LEVELS:
            name = LEVEL_FIELDS[level]
            if rule.row is not None:
                days[name] = getattr(rule.row, name)
            elif kind != StallRuleKind.STALLED and rule.limits[level] is not None:
                days[name] = int(rule.limits[level])
            else:
                days[name] = None
        out.append(
            {
                "rule": kind,
                "enabled": rule.enabled,
                **days,
                "custom": not rule.is_default,
                "levels": dict(rule.limits) if rule.enabled else dict.fromkeys(LEVELS),
            }
        )
    return {
        "stage": {"id": stage.id, "name": stage.name},
        "threshold": {"days": threshold.days, "source": threshold.source, "advanced": threshold.advanced},
        "rules": out,
    }


@extend_schema(tags=["stalls"])
class StageStallRulesApi(ScopedObjectMixin, APIView):
    scoped_attr = "stage"
    scoped_url_kwarg = "stage_id"

    def get_scoped_queryset(self):
        return Stage.objects.for_org(request_org(self.request)).select_related("organization")

    @extend_schema(
        responses=StageStallRulesSerializer, description="The stage's threshold and its three rules."
    )
    def get(self, request, stage_id: int):
        return Response(stage_rules_body(self.stage))

    @extend_schema(
        request=StageStallRulesInputSerializer,
        responses={200: StageStallRulesSerializer, 403: NOT_ALLOWED},
        description="Set some or all of the stage's rules (ops and admins), all or nothing. Days are whole "
        "and positive, advice ≤ warning ≤ red flag; empty days switch a level off (for `stalled`, they "
        "follow the threshold × 1, 1.5, 2). Values equal to the defaults return the stage to them.",
    )
    def put(self, request, stage_id: int):
        data = StageStallRulesInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            for rule in data.validated_data["rules"]:
                fields = dict(rule)
                stall_rule_set(stage=self.stage, by=request.membership, kind=fields.pop("rule"), **fields)
        return Response(stage_rules_body(self.stage))


urlpatterns = [
    path("stalls/", StallListApi.as_view(), name="stall_list"),
    path("stalls/<int:flag_id>/snooze/", StallSnoozeApi.as_view(), name="stall_snooze"),
    path("stages/<int:stage_id>/stall-rules/", StageStallRulesApi.as_view(), name="stage_stall_rules"),
]
