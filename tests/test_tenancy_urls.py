"""Tenancy, checked over every URL: an object of another organization is a 404, never its page.

The walker reads the whole URL map (pages and API, whatever app added them), keeps each route that
takes an object id (an int converter, or a digits-only regex group), fills the ids with objects of
ANOTHER organization and requests it with GET and POST as an admin of the first one (pages with a
session, the API with a token). Every answer must be 404: a 200 would show the object, a 302 or 403
would confirm it exists, a 500 is a crash. Routes with several ids are also tried with one foreign id
at a time and the others the admin's own, so a view that scopes the first id but not the second fails.

A new id name in a route must be added to ID_KWARGS, or test_every_id_kwarg_is_mapped fails."""

import re

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.resolvers import RegexPattern, RoutePattern
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from deals.services import (
    activity_log,
    answer_set,
    deal_create,
    deal_win,
    stakeholder_add,
    step_add,
    step_comment_add,
)
from iteration.models import HistoryImport, MetricRun, StallFlag, Suggestion
from journey.services import value_plan_create
from playbooks.models import PlayEvaluationRun
from playbooks.services import (
    play_create,
    play_question_add,
    play_resource_add,
    play_step_add,
    playbook_create,
)
from salesproc.services import criterion_add
from scorecards.services import deal_scorecard_answer, scorecard_create, scorecard_criterion_add
from strategy.models import Notification
from strategy.services import comment_add
from tests.factories import ContactFactory
from upstream.services import promotion_propose_from_step

# URL kwarg name -> the kind of object whose id it takes (a key of the worlds built below).
ID_KWARGS = {
    "deal_id": "deal",
    "process_id": "process",
    "stage_id": "stage",
    "account_id": "account",
    "contact_id": "contact",
    "step_id": "step",
    "stakeholder_id": "stakeholder",
    "activity_id": "activity",
    "criterion_id": "criterion",
    "membership_id": "membership",
    "member_id": "membership",
    "version_id": "version",
    "answer_id": "answer",
    "user_id": "user",
    "flag_id": "stall_flag",
    "import_id": "history_import",
    "run_id": "metric_run",
    "suggestion_id": "suggestion",
    "playbook_id": "playbook",
    "play_id": "play",
    "question_id": "play_question",
    "resource_id": "play_resource",
    "play_step_id": "play_step",
    "evaluation_run_id": "play_evaluation_run",
    "notification_id": "notification",
    "scorecard_criterion_id": "scorecard_criterion",
    "confirmation_id": "value_confirmation",
    "promotion_id": "promotion",
    "comment_id": "step_comment",
}
# The admin site has its own permission model; the password-reset link carries a signed user id.
SKIP_PREFIXES = ("admin/",)
SKIP_KWARGS = {"uidb64"}
# Unknown id names are still probed, with an id that exists only in the other organization.
FALLBACK_KIND = "deal"

_PARAM = re.compile(r"<(?:(?P<converter>[^>:]+):)?(?P<name>\w+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^)]*)\)")


def _route_text(pattern) -> str:
    """A pattern as route text (`deals/<int:deal_id>/`); regex groups of digits become int params."""
    if isinstance(pattern, RoutePattern):
        return str(pattern)
    if isinstance(pattern, RegexPattern):
        text = pattern.regex.pattern.removeprefix("^").removesuffix("$").removesuffix(r"\Z")

        def param(m):
            digits = m.group("body") in (r"\d+", "[0-9]+")
            return f"<{'int' if digits else 'str'}:{m.group('name')}>"

        return _REGEX_GROUP.sub(param, text).replace("\\", "")
    raise AssertionError(f"Unknown URL pattern type {type(pattern).__name__}: teach the walker about it")


def walk_routes(resolver=None, prefix: str = "", namespace: str = ""):
    """Every (route text, URL name, URLPattern) of the URL map, recursing into includes."""
    resolver = resolver or get_resolver()
    for entry in resolver.url_patterns:
        text = prefix + _route_text(entry.pattern)
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from walk_routes(entry, text, ns)
        elif isinstance(entry, URLPattern):
            yield text, f"{namespace}{entry.name or '(unnamed)'}", entry


def id_routes():
    """The routes that take at least one object id, minus the skipped ones."""
    for text, name, entry in walk_routes():
        params = [(m.group("converter") or "str", m.group("name")) for m in _PARAM.finditer(text)]
        if text.startswith(SKIP_PREFIXES) or any(p in SKIP_KWARGS for _, p in params):
            continue
        if any(conv == "int" for conv, _ in params):
            yield text, name, entry, params


def _world(org, member, process, account, contact, deal):
    """One organization's objects of every kind a URL can name."""
    stage = process.stages.order_by("order").first()
    criterion = criterion_add(stage=stage, by=None, kind="answer", label="Pain", question="What hurts?")
    step = step_add(deal=deal, by=member, title="Map the buying committee")
    stakeholder = stakeholder_add(deal=deal, by=member, contact=contact, role="champion")
    activity = activity_log(deal=deal, by=member, kind="call", subject="Discovery call")
    answer = answer_set(deal=deal, by=member, criterion=criterion, text="Slow quotes")
    flag = StallFlag.objects.create(
        organization=org,
        deal=deal,
        stage=deal.stage,
        rule="stalled",
        level="advice",
        days=30,
        threshold=21,
        reason="Stalled",
    )
    history_import = HistoryImport.objects.create(
        organization=org, process=process, deals_filename="deals.csv", history_filename="history.csv"
    )
    metric_run = MetricRun.objects.create(organization=org, process=process, status="succeeded")
    suggestion = Suggestion.objects.create(
        organization=org,
        process=process,
        stage=stage,
        kind="expected_days",
        subject=f"stage:{stage.id}",
        title=f"{stage.name}: set expected days to 30",
        change={"expected_days": 30},
    )
    playbook = playbook_create(org=org, by=None, name="Enterprise", process=process)
    play = play_create(
        playbook=playbook, by=None, name="Big deal", condition={"field": "amount", "op": "gte", "value": 0}
    )
    question = play_question_add(play=play, by=None, text="Who signs?")
    resource = play_resource_add(play=play, by=None, title="Battle card", url="https://example.test/card")
    play_step = play_step_add(play=play, by=None, title="Book the executive call")
    evaluation_run = PlayEvaluationRun.objects.get(play=play)
    comment = comment_add(deal=deal, by=member, body="Plan reviewed").comment
    notification = Notification.objects.create(
        organization=org, recipient=member.user, deal=deal, comment=comment, actor=member.user
    )
    scorecard_criterion = scorecard_criterion_add(
        scorecard=scorecard_create(process=process, by=None), by=None, label="Budget confirmed"
    )
    deal_scorecard_answer(deal=deal, criterion=scorecard_criterion, value=2, by=member)
    won = deal_create(by=member, process=process, name="Won, value to confirm", account=account)
    stakeholder_add(deal=won, by=member, contact=contact, role="economic_buyer")
    deal_win(deal=won, by=member, expected_version=won.version)
    [value_confirmation] = value_plan_create(deal=won, by=member)
    promotion, _ = promotion_propose_from_step(step=step, by=member)
    step_comment = step_comment_add(step=step, by=member, body="On this step").comment
    process.refresh_from_db()
    return {
        "deal": deal.id,
        "process": process.id,
        "stage": stage.id,
        "account": account.id,
        "contact": contact.id,
        "step": step.id,
        "stakeholder": stakeholder.id,
        "activity": activity.id,
        "criterion": criterion.id,
        "membership": member.id,
        "version": process.current_version_id,
        "answer": answer.id,
        "user": member.user_id,
        "stall_flag": flag.id,
        "history_import": history_import.id,
        "metric_run": metric_run.id,
        "suggestion": suggestion.id,
        "playbook": playbook.id,
        "play": play.id,
        "play_question": question.id,
        "play_resource": resource.id,
        "play_step": play_step.id,
        "play_evaluation_run": evaluation_run.id,
        "notification": notification.id,
        "scorecard_criterion": scorecard_criterion.id,
        "value_confirmation": value_confirmation.id,
        "promotion": promotion.id,
        "step_comment": step_comment.id,
    }


@pytest.fixture
def worlds(admin, process, account, deal, other_org_world):
    own_contact = ContactFactory(organization=admin.organization, account=account)
    own = _world(admin.organization, admin, process, account, own_contact, deal)
    w = other_org_world
    foreign = _world(
        w["member"].organization, w["member"], w["process"], w["account"], w["contact"], w["deal"]
    )
    return own, foreign


def _url(text: str, ids: dict[str, int]) -> str:
    def fill(m):
        if m.group("converter") == "int":
            return str(ids[m.group("name")])
        raise AssertionError(f"cannot fill <{m.group(0)}> in {text}: not an id; add it to the walker")

    return "/" + _PARAM.sub(fill, text)


def _id_for(kind_map: dict[str, int], name: str) -> int:
    return kind_map[ID_KWARGS.get(name, FALLBACK_KIND)]


def test_every_id_kwarg_is_mapped():
    unmapped = sorted(
        {
            f"{name} (in {route_name}: /{text})"
            for text, route_name, _, params in id_routes()
            for conv, name in params
            if conv == "int" and name not in ID_KWARGS
        }
    )
    assert not unmapped, (
        "These URL id names are not in ID_KWARGS of tests/test_tenancy_urls.py; map each to the kind "
        "of object it takes (and build one in _world) so the tenancy walker tests it properly: "
        + ", ".join(unmapped)
    )


def test_walker_sees_pages_and_api():
    names = {name for _, name, _, _ in id_routes()}
    # The walker must not go blind: pages and API routes with ids are both in the map.
    assert {"deal_detail", "api:deal_detail", "api:stakeholder_detail"} <= names


def test_another_orgs_objects_are_404_on_every_url(worlds, admin):
    own, foreign = worlds
    page_client = Client()
    page_client.force_login(admin.user)
    token, _ = Token.objects.get_or_create(user=admin.user)
    api_client = APIClient()
    api_client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")

    failures = []
    checked = 0
    for text, route_name, entry, params in id_routes():
        id_names = [name for conv, name in params if conv == "int"]
        variants = [{name: _id_for(foreign, name) for name in id_names}]
        if len(id_names) > 1:
            for swapped in id_names:
                variants.append(
                    {name: _id_for(foreign if name == swapped else own, name) for name in id_names}
                )
        is_api = text.startswith("api/")
        for ids in variants:
            url = _url(text, ids)
            assert resolve(url).func is entry.callback, f"walker built {url} for {route_name} wrongly"
            for method in ("get", "post"):
                if is_api:
                    response = getattr(api_client, method)(url, {}, format="json")
                else:
                    response = getattr(page_client, method)(url)
                checked += 1
                if response.status_code != 404:
                    failures.append(f"{route_name} {method.upper()} {url} -> {response.status_code}")
    assert checked > 0
    assert not failures, (
        "Another organization's objects must be a 404 (a 405 means the view checks the method before "
        "looking the object up in the request's organization: look it up first):\n" + "\n".join(failures)
    )
