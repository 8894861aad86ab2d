"""import_process / export_process / create_org: the file format round trip, errors named by path and
nothing written on any error."""

import copy
import io
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from deals.demo_data import NEW_BUSINESS
from orgs.models import Membership, Organization, Role, User
from salesproc.models import CriterionKind, ExitCriterion, Importance, Process, ProcessVersion, Stage
from tests.factories import MembershipFactory, OrganizationFactory

# Every criterion kind and importance, a stage without expected days, text that JSON escapes.
FULL_PROCESS = copy.deepcopy(NEW_BUSINESS)
FULL_PROCESS["name"] = "Enterprise – Neugeschäft ✓"
FULL_PROCESS["stages"][0]["guidance"] = 'Ask "why now?"\nThen listen.\tTake notes \\ share them.'
FULL_PROCESS["stages"][-1]["expected_days"] = None
FULL_PROCESS["stages"][1]["criteria"][0]["description"] = "Someone who sells for us when we are not there."


def run(command: str, *args) -> str:
    out = StringIO()
    call_command(command, *args, stdout=out)
    return out.getvalue()


def write(tmp_path, data, name="process.json") -> str:
    file = tmp_path / name
    if isinstance(data, bytes):
        file.write_bytes(data)
    else:
        file.write_text(data if isinstance(data, str) else json.dumps(data), encoding="utf-8")
    return str(file)


def counts() -> tuple[int, int, int, int]:
    return (
        Process.objects.count(),
        Stage.objects.count(),
        ExitCriterion.objects.count(),
        ProcessVersion.objects.count(),
    )


def test_the_full_process_uses_every_kind_and_importance():
    criteria = [c for s in FULL_PROCESS["stages"] for c in s["criteria"]]
    assert {c["kind"] for c in criteria} == set(CriterionKind.values)
    assert {c["importance"] for c in criteria} == set(Importance.values)


def test_export_import_export_is_byte_identical(org, other_org, tmp_path):
    run("import_process", "--org", org.slug, write(tmp_path, FULL_PROCESS))
    first = run("export_process", "--org", org.slug, "--process", FULL_PROCESS["name"])

    exported = write(tmp_path, first, "exported.json")
    assert "unchanged" in run("import_process", "--org", org.slug, exported)
    assert run("export_process", "--org", org.slug, "--process", FULL_PROCESS["name"]) == first

    # Into an organization that has never seen it: the same bytes come back out.
    run("import_process", "--org", other_org.slug, exported)
    assert run("export_process", "--org", other_org.slug, "--process", FULL_PROCESS["name"]) == first
    assert (tmp_path / "exported.json").read_bytes() == first.encode()
    assert json.loads(first)["stages"][0]["guidance"] == FULL_PROCESS["stages"][0]["guidance"]


def test_import_creates_then_records_a_version_per_change(org, tmp_path):
    minimal = {
        "name": "Partner deals",
        "stages": [
            {"name": "Qualify", "phase": "change", "probability": 10, "expected_days": 14},
            {"name": "Close", "phase": "decision", "probability": 70, "expected_days": None},
        ],
    }
    out = run("import_process", "--org", org.slug, write(tmp_path, minimal))
    assert 'Created process "Partner deals": version 1, 2 stages.' in out

    minimal["stages"][1]["probability"] = 80
    out = run("import_process", "--org", org.slug, write(tmp_path, minimal))
    assert 'Updated process "Partner deals": version 2.' in out
    assert "Close: probability 70 → 80" in out

    out = run("import_process", "--org", org.slug, write(tmp_path, minimal))
    assert 'Process "Partner deals" unchanged (version 2, 2 stages).' in out
    process = Process.objects.get(organization=org, name="Partner deals")
    assert list(process.versions.values_list("number", flat=True)) == [2, 1]
    assert process.stages.get(name="Close").probability == 80


def test_import_reads_standard_input(org, monkeypatch):
    data = {
        "name": "From stdin",
        "stages": [{"name": "Only", "phase": "value", "probability": 5, "expected_days": 3}],
    }
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(json.dumps(data).encode())))
    assert 'Created process "From stdin"' in run("import_process", "--org", org.slug, "-")


VALID_STAGE = {"name": "Qualify", "phase": "change", "probability": 10, "expected_days": 14}


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        pytest.param(
            b'{"name": "X", "stages": [', "not valid JSON: Expecting value at line 1", id="not-json"
        ),
        pytest.param(b'{"name": "Caf\xe9"}', "not UTF-8 text (byte 0xe9 at offset 13)", id="not-utf8"),
        pytest.param([1, 2], '(root): expected an object with "name" and "stages"', id="root-not-object"),
        pytest.param({"name": "X"}, "stages: required, a non-empty list", id="missing-stages"),
        pytest.param({"name": "X", "stages": []}, "stages: required, a non-empty list", id="empty-stages"),
        pytest.param({"stages": [VALID_STAGE]}, "name: required, a non-empty string", id="missing-name"),
        pytest.param(
            {"name": "X", "stages": [VALID_STAGE, {**VALID_STAGE, "probability": "ten"}]},
            'stages[1].probability: must be a whole number from 0 to 100 (got "ten")',
            id="wrong-type",
        ),
        pytest.param(
            {
                "name": "X",
                "stages": [
                    VALID_STAGE,
                    {**VALID_STAGE, "name": "B"},
                    {**VALID_STAGE, "name": "C", "phase": "won"},
                ],
            },
            'stages[2].phase: must be one of change, decision, value (got "won")',
            id="unknown-phase",
        ),
        pytest.param(
            {"name": "X", "stages": [VALID_STAGE, {**VALID_STAGE, "name": "qualify"}]},
            'stages[1].name: duplicate stage name "qualify"',
            id="duplicate-stage",
        ),
        pytest.param(
            {
                "name": "X",
                "stages": [{**VALID_STAGE, "criteria": [{"kind": "vibe", "label": "Good feeling"}]}],
            },
            'stages[0].criteria[0].kind: must be one of step, field, stakeholder_role, activity_kind, answer (got "vibe")',
            id="unknown-criterion-kind",
        ),
        pytest.param(
            {
                "name": "X",
                "stages": [
                    {
                        **VALID_STAGE,
                        "criteria": [{"kind": "field", "label": "Size", "field_name": "headcount"}],
                    }
                ],
            },
            'stages[0].criteria[0].field_name: must be one of amount, expected_close, industry, budget, lead_source, competitors, objections, account (got "headcount")',
            id="bad-field-name",
        ),
        pytest.param(
            {
                "name": "X",
                "stages": [
                    {
                        **VALID_STAGE,
                        "criteria": [
                            {"kind": "step", "label": "Call"},
                            {"kind": "step", "label": "call", "importance": "nice"},
                        ],
                    }
                ],
            },
            'stages[0].criteria[1].label: duplicate criterion "call" in this stage',
            id="duplicate-criterion",
        ),
        pytest.param(
            {"name": "X", "stages": [{**VALID_STAGE, "colour": "red"}]},
            "stages[0].colour: unknown key",
            id="unknown-key",
        ),
    ],
)
def test_a_bad_file_is_refused_with_its_path_and_writes_nothing(org, process, tmp_path, content, expected):
    before = counts()
    with pytest.raises(CommandError) as exc:
        run("import_process", "--org", org.slug, write(tmp_path, content))
    assert expected in str(exc.value)
    assert counts() == before


def test_every_problem_of_a_file_is_listed_at_once(org, tmp_path):
    data = {
        "name": "",
        "stages": [
            {"name": "A", "phase": "later", "probability": 150, "expected_days": 0},
            {
                "name": "B",
                "phase": "change",
                "probability": 5,
                "expected_days": 5,
                "criteria": [{"kind": "answer", "label": "Why"}],
            },
        ],
    }
    with pytest.raises(CommandError) as exc:
        run("import_process", "--org", org.slug, write(tmp_path, data))
    message = str(exc.value)
    assert "5 problems, nothing imported" in message
    for line in (
        "name: required, a non-empty string",
        "stages[0].phase: must be one of change, decision, value",
        "stages[0].probability: must be a whole number from 0 to 100 (got 150)",
        "stages[0].expected_days: must be null or a whole number of days from 1 to 3650",
        'stages[1].criteria[0].question: required for a criterion of kind "answer"',
    ):
        assert f"  {line}" in message
    assert counts() == (0, 0, 0, 0)


def test_an_update_that_drops_a_stage_with_deals_changes_nothing(org, deal, process, tmp_path):
    exported = json.loads(run("export_process", "--org", org.slug, "--process", process.name))
    exported["stages"] = exported["stages"][1:]  # the deal sits in the first stage
    exported["stages"][0]["probability"] = 99
    before = counts()
    with pytest.raises(CommandError) as exc:
        run("import_process", "--org", org.slug, write(tmp_path, exported))
    assert 'stages: Stage "Qualify" has deals or history and cannot be removed' in str(exc.value)
    assert counts() == before
    assert process.stages.get(name="Discover").probability == 25


@pytest.mark.parametrize("command", ["import_process", "export_process"])
def test_an_unknown_organization_is_a_clear_error(org, tmp_path, command):
    args = [write(tmp_path, FULL_PROCESS)] if command == "import_process" else ["--process", "New business"]
    with pytest.raises(CommandError, match='No organization with the slug "nope". Known slugs: acme.'):
        run(command, "--org", "nope", *args)
    assert counts() == (0, 0, 0, 0)


def test_export_of_an_unknown_process_names_the_existing_ones(org, process):
    with pytest.raises(
        CommandError, match='acme has no process named "Renewals" \\(processes: "New business"\\)'
    ):
        run("export_process", "--org", org.slug, "--process", "Renewals")


def test_import_of_a_missing_file_is_a_clear_error(org, tmp_path):
    with pytest.raises(CommandError, match="Cannot read .*missing.json: No such file or directory"):
        run("import_process", "--org", org.slug, str(tmp_path / "missing.json"))


# create_org ------------------------------------------------------------------------------------------


def test_create_org_creates_the_org_and_its_admin_and_prints_link_and_token(db, settings):
    settings.SITE_URL = "https://crm.example.com"
    out = run("create_org", "acme-inc", "--name", "Acme Inc", "--admin", "Boss@Acme.test")
    org = Organization.objects.get(slug="acme-inc")
    membership = Membership.objects.get(organization=org)
    assert org.name == "Acme Inc"
    assert membership.role == Role.ADMIN and membership.user.email == "boss@acme.test"
    assert not membership.user.has_usable_password()
    token = Token.objects.get(user=membership.user)
    assert f"API token for boss@acme.test: {token.key}" in out
    link = next(line for line in out.splitlines() if line.startswith("Set the admin's password here: "))
    assert link.split(": ", 1)[1].startswith("https://crm.example.com/reset/")


def test_create_org_reuses_an_existing_user_and_their_token(db):
    member = MembershipFactory(user__email="lead@example.test")
    token = Token.objects.create(user=member.user)
    out = run("create_org", "second", "--name", "Second Co", "--admin", "lead@example.test")
    assert token.key in out
    assert "an existing user: their password is unchanged" in out
    assert User.objects.filter(email="lead@example.test").count() == 1
    assert Membership.objects.get(organization__slug="second").user == member.user


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["taken", "--name", "Again", "--admin", "a@b.test"],
            'slug: An organization with the slug "taken" already exists.',
        ),
        (
            ["fresh", "--name", "Fresh", "--admin", "not-an-email"],
            'admin: "not-an-email" is not a valid email address.',
        ),
        (["fresh", "--name", "  ", "--admin", "a@b.test"], "name: Required."),
        (
            ["Acme Inc", "--name", "Acme", "--admin", "a@b.test"],
            '"Acme Inc" is not a slug: use lowercase letters, digits and hyphens (e.g. "acme-inc").',
        ),
    ],
)
def test_create_org_refuses_bad_input_and_writes_nothing(db, args, expected):
    OrganizationFactory(slug="taken")
    users, orgs, tokens = User.objects.count(), Organization.objects.count(), Token.objects.count()
    with pytest.raises(CommandError) as exc:
        run("create_org", *args)
    assert expected in str(exc.value)
    assert (User.objects.count(), Organization.objects.count(), Token.objects.count()) == (
        users,
        orgs,
        tokens,
    )
