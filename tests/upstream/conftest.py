"""Fixtures of the upstream tests: a Healthcare deal against Globex with a custom step, and a playbook."""

import pytest

from deals.services import deal_create, step_add
from playbooks.services import playbook_create


@pytest.fixture
def hc_deal(rep, process, account):
    """An open Healthcare deal of `rep`, against Globex, in the first stage."""
    return deal_create(
        by=rep,
        process=process,
        name="Mercy Hospital",
        account=account,
        amount="50000",
        industry="Healthcare",
        competitors=["Globex"],
    )


@pytest.fixture
def custom_step(hc_deal, rep):
    return step_add(deal=hc_deal, by=rep, title="Security review with IT", description="Their CISO signs off")


@pytest.fixture
def playbook(org, process):
    return playbook_create(org=org, by=None, name="Enterprise", process=process)
