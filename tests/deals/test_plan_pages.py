"""The deal page's plan: steps with their stakeholder, inline edit and delete, reorder by drag and drop
or buttons, the next step line, and each step's comment thread (htmx)."""

import re
from datetime import timedelta
from html import unescape

import pytest
from django.urls import reverse
from django.utils import timezone

from deals.models import DealStep, StepComment, StepSource
from deals.services import deal_create, stakeholder_add, step_add, step_comment_add
from strategy.models import Notification
from tests.factories import ContactFactory

HTMX = {"HX-Request": "true"}


def url(name, *args):
    return reverse(name, args=args)


def text(response) -> str:
    return unescape(response.content.decode())


def titles(deal) -> list[str]:
    return list(DealStep.objects.filter(deal=deal).order_by("position", "id").values_list("title", flat=True))


@pytest.fixture
def champion(deal, rep, contact):
    return stakeholder_add(deal=deal, by=rep, contact=contact, role="champion")


@pytest.fixture
def steps(deal, rep):
    return [
        step_add(deal=deal, by=rep, title=t) for t in ("Discovery call", "Send ROI model", "Book the CFO")
    ]


# ---- showing the plan


def test_each_step_shows_its_stakeholder_source_who_added_it_and_its_comment_count(
    client, rep, manager, deal, champion
):
    step = step_add(deal=deal, by=manager, title="Coach the champion", stakeholder=champion)
    DealStep.objects.create(
        organization=deal.organization,
        deal=deal,
        title="Confirm budget",
        source=StepSource.STAGE,
        stage=deal.stage,
    )
    step_comment_add(step=step, by=rep, body="Done twice already")
    step_comment_add(step=step, by=manager, body="Once more")
    client.force_login(rep.user)

    html = text(client.get(url("deal_detail", deal.id)))

    row = html[html.index(f'id="step-{step.id}"') :]
    row = row[: row.index("</li>")]
    assert 'with <span class="fw-semibold">Hank Scorpio</span>' in row and "(Champion)" in row
    assert f"by {manager.user.display_name}" in row and "Deal strategy" in row
    assert re.search(r'data-testid="step-comment-count">2<', row)
    assert "From the exit criteria, added" in html
    assert re.search(r'data-testid="plan-progress">0 of 2 done<', html)


def test_a_reader_sees_the_plan_without_edit_controls_but_may_open_the_threads(
    client, other_rep, deal, steps
):
    client.force_login(other_rep.user)

    html = client.get(url("deal_detail", deal.id)).content.decode()

    assert html.count('data-testid="plan-step"') == 3
    assert "data-reorder-url" not in html and "plan-handle" not in html
    assert url("step_edit", deal.id, steps[0].id) not in html
    assert url("step_thread", deal.id, steps[0].id) in html


# ---- adding with a stakeholder


def test_add_a_step_with_description_and_stakeholder(client, rep, deal, champion):
    client.force_login(rep.user)

    response = client.post(
        url("step_add", deal.id),
        {"title": "Map the committee", "description": "Who signs?", "stakeholder": champion.id},
        headers=HTMX,
    )

    assert response.status_code == 200
    step = DealStep.objects.get(deal=deal)
    assert (step.title, step.description, step.stakeholder) == ("Map the committee", "Who signs?", champion)
    assert 'id="next-step" hx-swap-oob="true"' in response.content.decode()


def test_adding_with_another_deals_stakeholder_is_a_field_message(client, rep, deal, process, account, org):
    other = deal_create(by=rep, process=process, name="Other", account=account)
    theirs = stakeholder_add(deal=other, by=rep, contact=ContactFactory(organization=org), role="user")
    client.force_login(rep.user)

    response = client.post(url("step_add", deal.id), {"title": "X", "stakeholder": theirs.id}, headers=HTMX)

    assert response.status_code == 422
    assert "That person is not a stakeholder on this deal." in text(response)
    assert not DealStep.objects.filter(deal=deal).exists()


def test_the_add_forms_assignees_load_when_it_opens_and_a_chosen_one_is_saved(
    client, rep, manager, other_rep, deal
):
    from tests.factories import MembershipFactory

    gone = MembershipFactory(organization=rep.organization, user__email="gone@acme.test", is_active=False)
    client.force_login(rep.user)
    page = text(client.get(url("deal_detail", deal.id)))
    assert f'hx-get="{url("step_assignee_options", deal.id)}?selected="' in page
    assert (
        manager.user.display_name
        not in page.split('data-testid="step-add-assignee"')[1].split("</select>")[0]
    )

    options = text(client.get(url("step_assignee_options", deal.id), {"selected": str(manager.user_id)}))
    chosen = re.findall(r'<option value="(\d+)" selected>', options)
    assert chosen == [str(manager.user_id)]
    offered = set(re.findall(r'<option value="(\d+)"', options))
    assert offered == {str(m.user_id) for m in (rep, manager, other_rep)}
    assert str(gone.user_id) not in offered

    response = client.post(
        url("step_add", deal.id), {"title": "Book the CFO", "assignee": manager.user_id}, headers=HTMX
    )
    assert response.status_code == 200
    assert DealStep.objects.get(deal=deal, title="Book the CFO").assignee_id == manager.user_id


def test_adding_with_an_assignee_from_another_org_is_a_field_message(client, rep, deal, other_org_world):
    client.force_login(rep.user)
    stranger = other_org_world["member"].user_id
    response = client.post(url("step_add", deal.id), {"title": "X", "assignee": stranger}, headers=HTMX)
    assert response.status_code == 422
    assert not DealStep.objects.filter(deal=deal).exists()


# ---- editing


def test_the_edit_form_opens_in_place_with_members_and_stakeholders(
    client, rep, manager, deal, steps, champion
):
    client.force_login(rep.user)

    response = client.get(url("step_edit", deal.id, steps[0].id), headers=HTMX)

    html = text(response)
    assert response.status_code == 200
    assert 'data-testid="step-edit-form"' in html and 'value="Discovery call"' in html
    assert f'<option value="{manager.user_id}"' in html
    assert f'<option value="{champion.id}"' in html


def test_saving_an_edit_updates_the_step_and_the_next_step(client, rep, manager, deal, steps, champion):
    due = timezone.localdate() + timedelta(days=1)
    client.force_login(rep.user)

    response = client.post(
        url("step_edit", deal.id, steps[2].id),
        {
            "title": "Book the CFO for Tuesday",
            "description": "Agenda first",
            "due_date": due.isoformat(),
            "assignee": manager.user_id,
            "stakeholder": champion.id,
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    step = DealStep.objects.get(pk=steps[2].pk)
    assert (step.title, step.due_date, step.assignee, step.stakeholder) == (
        "Book the CFO for Tuesday",
        due,
        manager.user,
        champion,
    )
    html = text(response)
    # Dated, so it is the next step now, ahead of the undated first step of the plan.
    assert re.search(r'data-testid="next-step">.*?<a [^>]*>([^<]*)</a>', html, re.S).group(1) == (
        "Book the CFO for Tuesday"
    )


@pytest.mark.parametrize(
    "data, message",
    [
        ({"title": ""}, "Required."),
        ({"title": "X", "due_date": "soon"}, "is not a date"),
        ({"title": "X", "assignee": "999999"}, "must be an active member"),
        ({"title": "X", "assignee": "abc"}, "Choose one of the list."),
        ({"title": "X", "stakeholder": "999999"}, "not a stakeholder on this deal"),
    ],
)
def test_a_bad_edit_re_renders_the_form_with_the_message_and_writes_nothing(
    client, rep, deal, steps, data, message
):
    client.force_login(rep.user)

    response = client.post(url("step_edit", deal.id, steps[0].id), data, headers=HTMX)

    assert response.status_code == 422
    assert message in text(response) and 'data-testid="step-edit-form"' in text(response)
    assert response.headers["HX-Retarget"] == f"#step-{steps[0].id}"
    assert titles(deal) == ["Discovery call", "Send ROI model", "Book the CFO"]


def test_a_stage_steps_form_has_no_title_field_and_saves_its_due_date(client, rep, deal):
    gate = DealStep.objects.create(
        organization=deal.organization,
        deal=deal,
        title="Confirm budget",
        source=StepSource.STAGE,
        stage=deal.stage,
    )
    due = timezone.localdate() + timedelta(days=4)
    client.force_login(rep.user)

    form = text(client.get(url("step_edit", deal.id, gate.id), headers=HTMX))
    response = client.post(
        url("step_edit", deal.id, gate.id), {"title": "Ignored", "due_date": due}, headers=HTMX
    )

    assert 'name="title"' not in form and "comes from the stage's exit criteria" in form
    assert response.status_code == 200
    gate.refresh_from_db()
    assert (gate.title, gate.due_date) == ("Confirm budget", due)


@pytest.mark.parametrize("action", ["edit_get", "edit_post", "delete", "move", "reorder"])
def test_another_rep_is_refused_every_plan_change(client, other_rep, deal, steps, action):
    client.force_login(other_rep.user)
    step = steps[0]
    requests = {
        "edit_get": lambda: client.get(url("step_edit", deal.id, step.id), headers=HTMX),
        "edit_post": lambda: client.post(
            url("step_edit", deal.id, step.id), {"title": "Theirs"}, headers=HTMX
        ),
        "delete": lambda: client.post(url("step_delete", deal.id, step.id), headers=HTMX),
        "move": lambda: client.post(url("step_move", deal.id, step.id), {"direction": "down"}, headers=HTMX),
        "reorder": lambda: client.post(
            url("steps_reorder", deal.id),
            {"step_ids": ",".join(str(s.id) for s in reversed(steps))},
            headers=HTMX,
        ),
    }

    response = requests[action]()

    assert response.status_code == 403
    assert "belongs to another rep" in text(response) or "not change it" in text(response)
    assert titles(deal) == ["Discovery call", "Send ROI model", "Book the CFO"]


def test_another_orgs_step_is_404(client, rep, deal, other_org_world):
    theirs = step_add(deal=other_org_world["deal"], by=other_org_world["member"], title="Theirs")
    client.force_login(rep.user)

    assert client.get(url("step_edit", deal.id, theirs.id)).status_code == 404
    assert client.post(url("step_delete", deal.id, theirs.id), headers=HTMX).status_code == 404
    assert client.get(url("step_thread", deal.id, theirs.id)).status_code == 404
    assert DealStep.objects.filter(pk=theirs.pk).exists()


# ---- deleting


def test_the_manager_deletes_a_custom_step(client, manager, deal, steps):
    client.force_login(manager.user)

    response = client.post(url("step_delete", deal.id, steps[1].id), headers=HTMX)

    assert response.status_code == 200
    assert "Deleted “Send ROI model”." in text(response)
    assert titles(deal) == ["Discovery call", "Book the CFO"]


def test_a_stage_step_has_no_delete_button_and_is_refused(client, rep, deal):
    gate = DealStep.objects.create(
        organization=deal.organization,
        deal=deal,
        title="Confirm budget",
        source=StepSource.STAGE,
        stage=deal.stage,
    )
    client.force_login(rep.user)

    html = client.get(url("deal_detail", deal.id)).content.decode()
    response = client.post(url("step_delete", deal.id, gate.id), headers=HTMX)

    assert url("step_delete", deal.id, gate.id) not in html
    assert response.status_code == 422
    assert "Only the deal's own (custom) steps can be deleted" in text(response)
    assert DealStep.objects.filter(pk=gate.pk).exists()


# ---- reordering


def test_drag_and_drop_posts_the_new_order(client, rep, deal, steps):
    client.force_login(rep.user)
    order = [steps[2].id, steps[0].id, steps[1].id]

    response = client.post(
        url("steps_reorder", deal.id), {"step_ids": ",".join(map(str, order))}, headers=HTMX
    )

    assert response.status_code == 200
    assert titles(deal) == ["Book the CFO", "Discovery call", "Send ROI model"]
    html = response.content.decode()
    assert [int(i) for i in re.findall(r'data-step-id="(\d+)" data-testid="plan-step"', html)] == order


@pytest.mark.parametrize("step_ids", ["", "1,2,x", "REPEAT", "MISSING"])
def test_a_wrong_order_shows_the_plan_as_stored_with_the_reason(client, rep, deal, steps, step_ids):
    ids = [s.id for s in steps]
    step_ids = {"REPEAT": f"{ids[0]},{ids[0]},{ids[1]},{ids[2]}", "MISSING": f"{ids[2]},{ids[1]}"}.get(
        step_ids, step_ids
    )
    client.force_login(rep.user)

    response = client.post(url("steps_reorder", deal.id), {"step_ids": step_ids}, headers=HTMX)

    assert response.status_code == 422
    assert 'data-testid="plan-error"' in response.content.decode()
    assert titles(deal) == ["Discovery call", "Send ROI model", "Book the CFO"]


def test_the_move_buttons_reorder_and_mark_the_moved_step_for_focus(client, rep, deal, steps):
    client.force_login(rep.user)

    response = client.post(url("step_move", deal.id, steps[2].id), {"direction": "up"}, headers=HTMX)

    assert response.status_code == 200
    assert titles(deal) == ["Discovery call", "Book the CFO", "Send ROI model"]
    assert f'data-moved-step="{steps[2].id}" data-moved-direction="up"' in response.content.decode()


def test_the_first_steps_up_and_the_last_steps_down_buttons_are_disabled(client, rep, deal, steps):
    client.force_login(rep.user)

    html = client.get(url("deal_detail", deal.id)).content.decode()

    assert re.search(r'aria-label="Move up: Discovery call"[^>]*disabled', html)
    assert re.search(r'aria-label="Move down: Book the CFO"[^>]*disabled', html)
    assert not re.search(r'aria-label="Move up: Book the CFO"[^>]*disabled', html)


# ---- comments


def test_the_thread_opens_inline_for_a_reader(client, rep, other_rep, deal, steps):
    step_comment_add(step=steps[0], by=rep, body="Went well")
    client.force_login(other_rep.user)

    response = client.get(url("step_thread", deal.id, steps[0].id), headers=HTMX)

    html = text(response)
    assert response.status_code == 200
    assert "Went well" in html and 'data-testid="step-comment-form"' in html
    assert 'data-testid="step-comment-delete"' not in html  # not their comment


def test_a_reader_comments_with_a_mention_and_the_count_updates_out_of_band(
    client, rep, other_rep, deal, steps
):
    rep.user.full_name = "Riley Chen"
    rep.user.save(update_fields=["full_name"])
    client.force_login(other_rep.user)

    response = client.post(
        url("step_thread", deal.id, steps[1].id),
        {"body": "@riley I used this ROI model at Initech"},
        headers=HTMX,
    )

    html = text(response)
    assert response.status_code == 200
    assert "Notified Riley Chen." in html
    assert '<span class="mention fw-semibold text-primary-emphasis">@riley</span>' in html
    assert f'id="step-comments-toggle-{steps[1].id}" hx-swap-oob="true"' in html
    assert re.search(r'data-testid="step-comment-count">1<', html)
    notification = Notification.objects.get()
    assert (notification.recipient, notification.step_comment.step) == (rep.user, steps[1])


def test_an_empty_comment_is_a_field_message(client, rep, deal, steps):
    client.force_login(rep.user)

    response = client.post(url("step_thread", deal.id, steps[0].id), {"body": "  "}, headers=HTMX)

    assert response.status_code == 422
    assert "Required." in text(response)
    assert not StepComment.objects.exists()


def test_the_author_deletes_their_comment_others_cannot(client, rep, manager, deal, steps):
    comment = step_comment_add(step=steps[0], by=rep, body="Mine").comment
    delete = url("step_comment_delete", deal.id, steps[0].id, comment.id)

    client.force_login(manager.user)
    refused = client.post(delete, headers=HTMX)
    assert refused.status_code == 403 and "Only the comment's author" in text(refused)
    assert StepComment.objects.exists()

    client.force_login(rep.user)
    deleted = client.post(delete, headers=HTMX)
    assert deleted.status_code == 200
    assert not StepComment.objects.exists()


def test_a_comment_of_another_step_is_404(client, rep, deal, steps):
    comment = step_comment_add(step=steps[0], by=rep, body="Mine").comment
    client.force_login(rep.user)

    response = client.post(url("step_comment_delete", deal.id, steps[1].id, comment.id), headers=HTMX)

    assert response.status_code == 404
    assert StepComment.objects.exists()
