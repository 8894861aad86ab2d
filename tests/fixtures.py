"""Fixtures for an org with people in every role, a gated process and a deal."""

import pytest

from deals.services import deal_create
from orgs.models import Role
from salesproc.services import process_import
from tests.factories import AccountFactory, ContactFactory, MembershipFactory, OrganizationFactory

PASSWORD = "pass-word-123"

SIMPLE_PROCESS = {
    "name": "New business",
    "stages": [
        {"name": "Qualify", "phase": "change", "probability": 10, "expected_days": 10},
        {"name": "Discover", "phase": "change", "probability": 25, "expected_days": 14},
        {"name": "Propose", "phase": "decision", "probability": 50, "expected_days": 21},
        {"name": "Negotiate", "phase": "decision", "probability": 75, "expected_days": None},
    ],
}


@pytest.fixture
def org(db):
    return OrganizationFactory(name="Acme Sales", slug="acme")


@pytest.fixture
def other_org(db):
    return OrganizationFactory(name="Other Co", slug="other")


@pytest.fixture
def admin(org):
    return MembershipFactory(organization=org, role=Role.ADMIN, user__email="admin@acme.test")


@pytest.fixture
def ops(org):
    return MembershipFactory(organization=org, role=Role.OPS, user__email="ops@acme.test")


@pytest.fixture
def manager(org):
    return MembershipFactory(organization=org, role=Role.MANAGER, user__email="manager@acme.test")


@pytest.fixture
def rep(org, manager):
    return MembershipFactory(organization=org, role=Role.REP, manager=manager, user__email="rep@acme.test")


@pytest.fixture
def other_rep(org):
    # Reports to nobody: outside `manager`'s team.
    return MembershipFactory(organization=org, role=Role.REP, user__email="rep2@acme.test")


@pytest.fixture
def process(org):
    proc, _ = process_import(org=org, data=SIMPLE_PROCESS, by=None)
    return proc


@pytest.fixture
def stages(process):
    return list(process.stages.order_by("order"))


@pytest.fixture
def account(org):
    return AccountFactory(organization=org, name="Globex")


@pytest.fixture
def contact(org, account):
    return ContactFactory(organization=org, account=account, name="Hank Scorpio")


@pytest.fixture
def deal(rep, process, account):
    return deal_create(by=rep, process=process, name="Globex rollout", account=account, amount="12000")


@pytest.fixture
def other_org_world(other_org):
    """Another org with its own admin, process, account, contact and deal: for 404 tests."""
    member = MembershipFactory(organization=other_org, role=Role.ADMIN, user__email="admin@other.test")
    proc, _ = process_import(org=other_org, data=SIMPLE_PROCESS, by=None)
    account = AccountFactory(organization=other_org, name="Initech")
    contact = ContactFactory(organization=other_org, account=account)
    d = deal_create(by=member, process=proc, name="Initech deal", account=account, amount="5000")
    return {"member": member, "process": proc, "account": account, "contact": contact, "deal": d}
