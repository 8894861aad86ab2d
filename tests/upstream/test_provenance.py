"""The link back from what a promotion became: "Promoted from …" on the play editor and on the process
editor's exit criteria; and on the deal plan the step says what it became (tests/upstream/test_pages.py)."""

import re

from django.urls import reverse

from upstream.services import promotion_accept


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_the_play_editor_says_which_deals_step_the_play_came_from(client, ops, proposed, playbook, hc_deal):
    accepted = promotion_accept(promotion=proposed, by=ops, playbook=playbook, title="Security review")
    client.force_login(ops.user)

    page = text(client.get(reverse("play_edit", args=[accepted.play_id])))

    assert "Promoted from: deal" in page
    assert (
        f'<a href="/deals/{hc_deal.id}/#step-{proposed.source_step_id}">Mercy Hospital</a>’s step “Security review with IT”'
        in page
    )
    assert f'href="/upstream/{accepted.id}/"' in page


def test_a_play_written_by_hand_says_nothing(client, ops, playbook):
    from playbooks.services import play_create

    play = play_create(
        playbook=playbook, by=ops, name="By hand", condition={"field": "amount", "op": "gt", "value": 1}
    )
    client.force_login(ops.user)

    assert "Promoted from" not in text(client.get(reverse("play_edit", args=[play.id])))


def test_the_process_editor_says_where_a_criterion_came_from(client, ops, proposed, process, stages):
    accepted = promotion_accept(promotion=proposed, by=ops, target="criterion", stage=stages[1])
    client.force_login(ops.user)

    page = text(client.get(reverse("process_detail", args=[process.id])))

    criterion_row = page.split(f'id="criterion-{accepted.criterion_id}"')[1].split("</li>")[0]
    assert "Promoted from: deal" in criterion_row and "Mercy Hospital" in criterion_row
    assert page.count('data-testid="criterion-promoted-from"') == 1
