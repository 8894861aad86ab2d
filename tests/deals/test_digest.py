"""The daily idle-deal digest: who gets which deals, once a day, with a constant number of queries."""

import smtplib
from datetime import date, timedelta

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from deals.models import DigestRun
from deals.services import activity_log, deal_create, deal_lose
from deals.services.digest import stale_deal_digest_send
from deals.tasks import send_org_stale_deal_digest, send_stale_deal_digests
from orgs.models import Role
from salesproc.services import process_import
from tests.factories import AccountFactory, MembershipFactory, OrganizationFactory
from tests.fixtures import SIMPLE_PROCESS

DAY = date(2026, 3, 2)


def idle_deal(member, process, account, *, days: int, name: str):
    """A deal created `days` ago with nothing logged since."""
    return deal_create(
        by=member,
        process=process,
        name=name,
        account=account,
        amount="1000",
        at=timezone.now() - timedelta(days=days),
    )


def mails_to(email: str) -> list:
    return [m for m in mail.outbox if m.to == [email]]


@pytest.fixture
def team(org, admin, ops, manager, rep, other_rep, process, account):
    """rep reports to manager; other_rep to nobody. Idle and fresh deals for both reps."""
    deals = {
        "rep_idle": idle_deal(rep, process, account, days=20, name="Globex rollout"),
        "rep_very_idle": idle_deal(rep, process, account, days=45, name="Globex pilot"),
        "rep_fresh": idle_deal(rep, process, account, days=3, name="Globex renewal"),
        "other_idle": idle_deal(other_rep, process, account, days=30, name="Initrode deal"),
    }
    revived = idle_deal(rep, process, account, days=40, name="Revived deal")
    activity_log(deal=revived, by=rep, kind="call", subject="Back in touch", occurred_at=timezone.now())
    closed = idle_deal(rep, process, account, days=60, name="Lost deal")
    deal_lose(deal=closed, by=rep, expected_version=closed.version, reason="No budget", at=closed.created_at)
    return deals


def test_each_rep_gets_their_idle_open_deals_and_managers_their_team(team, rep, other_rep, manager, settings):
    settings.SITE_URL = "https://crm.example.com"
    assert stale_deal_digest_send(org=rep.organization, day=DAY) == 3

    [to_rep] = mails_to("rep@acme.test")
    assert to_rep.subject == "[Acme Sales] 2 idle deals of yours"
    body = to_rep.body
    assert "- Globex pilot · Globex · Qualify · 45 days idle\n" in body
    assert f"  https://crm.example.com/deals/{team['rep_idle'].id}/\n" in body
    assert body.index("Globex pilot") < body.index("Globex rollout")  # most idle first
    for not_idle in ("Globex renewal", "Revived deal", "Lost deal", "Initrode deal"):
        assert not_idle not in body

    [to_manager] = mails_to("manager@acme.test")
    assert to_manager.subject == "[Acme Sales] 2 idle deals in your team"
    assert f"Your team's deals\n{rep.user.display_name}:\n- Globex pilot" in to_manager.body
    assert "Initrode deal" not in to_manager.body  # other_rep is not in the manager's team

    [to_other] = mails_to("rep2@acme.test")
    assert "Initrode deal · Globex · Qualify · 30 days idle" in to_other.body
    # Ops and the admin own nothing idle and manage nobody.
    assert not mails_to("ops@acme.test") and not mails_to("admin@acme.test")
    assert set(DigestRun.objects.values_list("recipient__email", "deal_count")) == {
        ("rep@acme.test", 2),
        ("manager@acme.test", 2),
        ("rep2@acme.test", 1),
    }
    assert not DigestRun.objects.filter(sent_at__isnull=True).exists()


def test_a_redelivered_digest_sends_nothing_new(team, org):
    assert send_org_stale_deal_digest.delay(org.id, DAY.isoformat()).get() == 3
    assert send_org_stale_deal_digest.delay(org.id, DAY.isoformat()).get() == 0
    assert len(mail.outbox) == 3
    assert DigestRun.objects.count() == 3
    # The next day is a new digest.
    assert send_org_stale_deal_digest.delay(org.id, (DAY + timedelta(days=1)).isoformat()).get() == 3


def test_an_inactive_rep_gets_nothing_but_stays_in_the_managers_digest(team, rep, org):
    rep.is_active = False
    rep.save()
    stale_deal_digest_send(org=org, day=DAY)
    assert not mails_to("rep@acme.test")
    [to_manager] = mails_to("manager@acme.test")
    assert "Globex rollout" in to_manager.body


def test_the_idle_threshold_comes_from_settings(team, org, settings):
    settings.STALE_DEAL_DAYS = 35
    stale_deal_digest_send(org=org, day=DAY)
    [to_rep] = mails_to("rep@acme.test")
    assert "Globex pilot" in to_rep.body and "Globex rollout" not in to_rep.body
    assert not mails_to("rep2@acme.test")


def test_a_failed_email_releases_its_claim_so_a_retry_sends_only_the_rest(team, org, monkeypatch):
    from django.core.mail.backends.locmem import EmailBackend

    real_send = EmailBackend.send_messages
    calls = {"n": 0}

    def flaky(self, messages):
        calls["n"] += 1
        if calls["n"] == 2:
            raise smtplib.SMTPServerDisconnected("connection lost")
        return real_send(self, messages)

    monkeypatch.setattr(EmailBackend, "send_messages", flaky)
    with pytest.raises(smtplib.SMTPServerDisconnected):
        stale_deal_digest_send(org=org, day=DAY)
    assert len(mail.outbox) == 1
    first = mail.outbox[0].to[0]
    assert list(DigestRun.objects.values_list("recipient__email", flat=True)) == [first]

    assert stale_deal_digest_send(org=org, day=DAY) == 2
    assert sorted(m.to[0] for m in mail.outbox) == ["manager@acme.test", "rep2@acme.test", "rep@acme.test"]


def _org_with_reps(n_reps: int, deals_each: int, slug: str):
    org = OrganizationFactory(slug=slug)
    manager = MembershipFactory(organization=org, role=Role.MANAGER)
    process, _ = process_import(org=org, data=SIMPLE_PROCESS, by=None)
    account = AccountFactory(organization=org)
    for _ in range(n_reps):
        rep = MembershipFactory(organization=org, role=Role.REP, manager=manager)
        for i in range(deals_each):
            idle_deal(rep, process, account, days=20 + i, name=f"Deal {i}")
    return org


def test_long_lists_show_the_most_idle_and_count_the_rest(org, rep, manager, process, account, monkeypatch):
    monkeypatch.setattr("deals.services.digest.MAX_LISTED", 2)
    for days in (20, 30, 40, 50):
        idle_deal(rep, process, account, days=days, name=f"Idle {days}")
    stale_deal_digest_send(org=org, day=DAY)
    [to_rep] = mails_to("rep@acme.test")
    assert "Idle 50" in to_rep.body and "Idle 40" in to_rep.body and "Idle 30" not in to_rep.body
    assert "  … and 2 more\n" in to_rep.body
    assert DigestRun.objects.get(recipient=rep.user).deal_count == 4


def test_query_count_does_not_grow_with_reps_or_deals(db):
    small = _org_with_reps(1, 1, "small")
    large = _org_with_reps(6, 5, "large")
    with CaptureQueriesContext(connection) as few:
        assert stale_deal_digest_send(org=small, day=DAY) == 2
    with CaptureQueriesContext(connection) as many:
        assert stale_deal_digest_send(org=large, day=DAY) == 7
    assert len(many.captured_queries) == len(few.captured_queries) == 5


def test_the_daily_task_fans_out_one_task_per_org_after_commit(
    team, org, django_capture_on_commit_callbacks, django_assert_num_queries
):
    quiet = OrganizationFactory(slug="quiet")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert send_stale_deal_digests.delay(DAY.isoformat()).get() == 2
    assert len(callbacks) == 2
    assert len(mail.outbox) == 3
    assert set(DigestRun.objects.values_list("organization_id", "day")) == {(org.id, DAY)}
    assert quiet.id not in DigestRun.objects.values_list("organization_id", flat=True)


def test_an_org_deleted_before_its_task_runs_is_skipped(db):
    assert send_org_stale_deal_digest.delay(987654, DAY.isoformat()).get() == 0
