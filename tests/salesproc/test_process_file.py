"""The process file beyond what tests/salesproc/test_commands.py covers: a process built in the editor
survives export → import → export byte for byte, the minimal form of DESIGN.md, range and choice errors
named by their path, and re-imports that change nothing record no version.

Already covered there (not repeated here): not JSON, not UTF-8, missing name, missing or empty stages,
unknown phase, a non-integer probability, probability 150, expected_days 0, duplicate stage names,
unknown criterion kind, unknown field name, duplicate criteria, unknown keys, and an update that would
remove a stage with deals."""

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from salesproc.lib.errors import InvalidInput
from salesproc.models import ExitCriterion, Process, ProcessVersion, Stage
from salesproc.process_schema import dump_process_data
from salesproc.services import criterion_add, process_create, process_export, process_import, stage_add
from tests.fixtures import SIMPLE_PROCESS

# The minimal accepted form, as DESIGN.md writes it.
MINIMAL = {
    "name": "Channel",
    "stages": [
        {"name": "Qualify", "phase": "change", "probability": 10, "expected_days": 14},
        {"name": "Commit", "phase": "decision", "probability": 70, "expected_days": None},
        {"name": "Confirm value", "phase": "value", "probability": 100, "expected_days": 90},
    ],
}
STAGE = {"name": "Qualify", "phase": "change", "probability": 10, "expected_days": 14}


def export(org, name: str) -> str:
    out = StringIO()
    call_command("export_process", "--org", org.slug, "--process", name, stdout=out)
    return out.getvalue()


def import_file(org, path) -> str:
    out = StringIO()
    call_command("import_process", "--org", org.slug, str(path), stdout=out)
    return out.getvalue()


def counts() -> tuple[int, int, int, int]:
    return (
        Process.objects.count(),
        Stage.objects.count(),
        ExitCriterion.objects.count(),
        ProcessVersion.objects.count(),
    )


# Round trips


def test_a_process_built_in_the_editor_round_trips_byte_for_byte(org, ops, other_org, tmp_path):
    process = process_create(org=org, by=ops, name="Mid-market ✓", description="Built by hand")
    first = process.stages.get()
    stage_add(
        process=process,
        by=ops,
        name="Entscheidung",
        phase="decision",
        probability=60,
        expected_days=30,
        guidance='Ask "who signs?"\n\tThen wait.',
    )
    decision = process.stages.get(name="Entscheidung")
    criterion_add(stage=first, by=ops, kind="step", label="Intro call", importance="optional")
    criterion_add(stage=first, by=ops, kind="field", label="Budget", field_name="budget")
    criterion_add(stage=first, by=ops, kind="stakeholder_role", label="Champion", role="champion")
    criterion_add(
        stage=decision,
        by=ops,
        kind="activity_kind",
        label="Demo",
        activity_kind="meeting",
        importance="critical",
    )
    criterion_add(stage=decision, by=ops, kind="answer", label="Risk", question="What could stop it?")

    exported = export(org, process.name)
    file = tmp_path / "mid-market.json"
    file.write_text(exported, encoding="utf-8")
    assert "Created process" in import_file(other_org, file)
    again = export(other_org, process.name)

    assert again.encode() == file.read_bytes()
    assert exported == dump_process_data(process_export(process=process))
    data = json.loads(exported)
    assert data["description"] == "Built by hand"
    assert [c["kind"] for s in data["stages"] for c in s["criteria"]] == [
        "step",
        "field",
        "stakeholder_role",
        "activity_kind",
        "answer",
    ]


def test_the_minimal_form_imports_with_defaults_and_round_trips(org, tmp_path):
    file = tmp_path / "minimal.json"
    file.write_text(json.dumps(MINIMAL), encoding="utf-8")

    out = import_file(org, file)

    assert 'Created process "Channel": version 1, 3 stages.' in out
    process = Process.objects.get(organization=org, name="Channel")
    assert list(
        process.stages.order_by("order").values_list("name", "phase", "probability", "expected_days")
    ) == [
        ("Qualify", "change", 10, 14),
        ("Commit", "decision", 70, None),
        ("Confirm value", "value", 100, 90),
    ]
    exported = export(org, "Channel")
    data = json.loads(exported)
    assert data["description"] == ""
    assert all(s["guidance"] == "" and s["criteria"] == [] for s in data["stages"])
    # The exported (normalized) file is the same process: importing it changes nothing.
    normalized = tmp_path / "normalized.json"
    normalized.write_text(exported, encoding="utf-8")
    assert "unchanged (version 1, 3 stages)" in import_file(org, normalized)
    assert export(org, "Channel") == exported


def test_a_criterion_without_importance_is_mandatory(org):
    data = {"name": "P", "stages": [{**STAGE, "criteria": [{"kind": "step", "label": "Call"}]}]}

    process, _ = process_import(org=org, data=data, by=None)

    assert ExitCriterion.objects.get(stage__process=process).importance == "mandatory"


# Re-imports


def test_re_importing_an_unchanged_file_records_no_version(org, process):
    current = process.current_version_id
    versions = ProcessVersion.objects.count()

    again, version = process_import(org=org, data=process_export(process=process), by=None)

    assert version is None
    assert again.pk == process.pk
    assert ProcessVersion.objects.count() == versions
    process.refresh_from_db()
    assert process.current_version_id == current


def test_re_importing_the_same_content_in_another_layout_records_no_version(org, process):
    # Key order, whitespace and stage name padding are not changes; nor are defaults written out.
    data = json.loads(json.dumps(SIMPLE_PROCESS))
    for stage in data["stages"]:
        stage.update(guidance="", criteria=[])
    data["stages"][0] = dict(reversed(list(data["stages"][0].items())))
    data["stages"][1]["name"] = "  Discover "
    data["description"] = ""

    _, version = process_import(org=org, data=data, by=None)

    assert version is None
    assert ProcessVersion.objects.filter(process=process).count() == 1


def test_a_re_import_that_changes_a_description_records_one_version(org, process):
    data = process_export(process=process)
    data["stages"][0]["criteria"] = [
        {"kind": "step", "label": "Call", "importance": "optional", "description": "Before"}
    ]
    process_import(org=org, data=data, by=None)
    data["stages"][0]["criteria"][0]["description"] = "After"

    _, version = process_import(org=org, data=data, by=None)

    assert version.number == 3
    assert version.changes == ['Qualify: criterion "Call" edited']
    assert ExitCriterion.objects.get(stage__process=process).description == "After"


# Bad files: the path of each problem, and nothing written


def with_stage(**changes) -> dict:
    return {"name": "X", "stages": [STAGE, {**STAGE, "name": "B"}, {**STAGE, "name": "C", **changes}]}


def with_criterion(**criterion) -> dict:
    return {"name": "X", "stages": [{**STAGE, "criteria": [{"kind": "step", "label": "L", **criterion}]}]}


BAD_FILES = [
    pytest.param(with_stage(probability=-1), "stages[2].probability: must be a whole number from 0 to 100 (got -1)", id="probability-negative"),
    pytest.param(with_stage(probability=101), "stages[2].probability: must be a whole number from 0 to 100 (got 101)", id="probability-101"),
    pytest.param(with_stage(probability=50.5), "stages[2].probability: must be a whole number from 0 to 100 (got 50.5)", id="probability-fraction"),
    pytest.param(with_stage(probability=True), "stages[2].probability: must be a whole number from 0 to 100 (got true)", id="probability-boolean"),
    pytest.param(with_stage(probability=None), "stages[2].probability: must be a whole number from 0 to 100 (got null)", id="probability-missing"),
    pytest.param(with_stage(expected_days=-5), "stages[2].expected_days: must be null or a whole number of days from 1 to 3650", id="expected-days-negative"),
    pytest.param(with_stage(expected_days=3651), "stages[2].expected_days: must be null or a whole number of days from 1 to 3650", id="expected-days-too-many"),
    pytest.param(with_stage(expected_days="14"), "stages[2].expected_days: must be null or a whole number of days from 1 to 3650", id="expected-days-string"),
    pytest.param(with_stage(phase=None), "stages[2].phase: must be one of change, decision, value (got null)", id="phase-missing"),
    pytest.param(with_stage(phase="Change"), 'stages[2].phase: must be one of change, decision, value (got "Change")', id="phase-wrong-case"),
    pytest.param(with_stage(name="   "), "stages[2].name: required, a non-empty string", id="stage-name-blank"),
    pytest.param(with_stage(name="B "), 'stages[2].name: duplicate stage name "B "', id="duplicate-stage-padded"),
    pytest.param(with_stage(guidance=["a"]), "stages[2].guidance: expected a string", id="guidance-not-text"),
    pytest.param(with_stage(criteria={"kind": "step"}), "stages[2].criteria: expected a list", id="criteria-not-a-list"),
    pytest.param({"name": "X", "stages": [STAGE, "Discover"]}, "stages[1]: expected an object", id="stage-not-an-object"),
    pytest.param({"name": "X", "stages": {"Qualify": STAGE}}, "stages: required, a non-empty list", id="stages-not-a-list"),
    pytest.param({"name": "x" * 121, "stages": [STAGE]}, "name: at most 120 characters", id="name-too-long"),
    pytest.param({"name": 7, "stages": [STAGE]}, "name: required, a non-empty string", id="name-not-text"),
    pytest.param({"name": "X", "stages": [STAGE] * 31}, "stages: at most 30 stages", id="too-many-stages"),
    pytest.param(with_criterion(importance="nice"), "stages[0].criteria[0].importance: must be one of optional, mandatory, critical", id="bad-importance"),
    pytest.param(with_criterion(importance="Critical"), "stages[0].criteria[0].importance: must be one of optional, mandatory, critical", id="importance-wrong-case"),
    pytest.param(with_criterion(kind=None), "stages[0].criteria[0].kind: must be one of step, field, stakeholder_role, activity_kind, answer (got null)", id="criterion-kind-missing"),
    pytest.param(with_criterion(label=""), "stages[0].criteria[0].label: required, a non-empty string", id="criterion-label-blank"),
    pytest.param(with_criterion(kind="field"), 'stages[0].criteria[0].field_name: required for a criterion of kind "field"', id="field-name-missing"),
    pytest.param(with_criterion(kind="field", field_name="Amount"), 'stages[0].criteria[0].field_name: must be one of amount, expected_close, industry, budget, lead_source, competitors, objections, account (got "Amount")', id="field-name-wrong-case"),
    pytest.param(with_criterion(kind="field", field_name="name"), 'stages[0].criteria[0].field_name: must be one of amount, expected_close, industry, budget, lead_source, competitors, objections, account (got "name")', id="field-name-not-whitelisted"),
    pytest.param(with_criterion(kind="stakeholder_role", role="ceo"), 'stages[0].criteria[0].role: must be one of economic_buyer, champion, decision_maker, influencer, user, procurement, blocker (got "ceo")', id="bad-role"),
    pytest.param(with_criterion(kind="activity_kind", activity_kind="lunch"), 'stages[0].criteria[0].activity_kind: must be one of call, meeting, email, note (got "lunch")', id="bad-activity-kind"),
    pytest.param(with_criterion(kind="answer", question="  "), 'stages[0].criteria[0].question: required for a criterion of kind "answer"', id="question-blank"),
    pytest.param(with_criterion(role="champion"), 'stages[0].criteria[0].role: unknown key for a criterion of kind "step"', id="parameter-of-another-kind"),
    pytest.param(with_criterion(description=3), "stages[0].criteria[0].description: expected a string", id="criterion-description-not-text"),
]  # fmt: skip


@pytest.mark.parametrize(("data", "expected"), BAD_FILES)
def test_a_bad_file_names_the_path_of_the_problem_and_writes_nothing(org, process, tmp_path, data, expected):
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    before = counts()
    snapshot = process_export(process=process)

    with pytest.raises(CommandError) as exc:
        import_file(org, file)

    headline, *problems = str(exc.value).splitlines()
    assert headline == f"{file}: 1 problem, nothing imported:"
    assert problems == [f"  {expected}"]
    assert counts() == before
    assert process_export(process=process) == snapshot


@pytest.mark.parametrize(("data", "expected"), BAD_FILES)
def test_the_service_reports_the_same_path(org, data, expected):
    with pytest.raises(InvalidInput) as exc:
        process_import(org=org, data=data, by=None)

    assert exc.value.errors == {"file": [expected]}
    assert counts() == (0, 0, 0, 0)


def test_a_bad_update_of_an_existing_process_changes_none_of_it(org, process):
    data = process_export(process=process)
    data["stages"][0]["probability"] = 15  # a valid change...
    data["stages"][3]["criteria"] = [{"kind": "answer", "label": "Why"}]  # ...and a bad one
    before = counts()
    snapshot = process_export(process=process)

    with pytest.raises(InvalidInput) as exc:
        process_import(org=org, data=data, by=None)

    assert exc.value.errors["file"] == [
        'stages[3].criteria[0].question: required for a criterion of kind "answer"'
    ]
    assert counts() == before
    assert process_export(process=process) == snapshot


def test_a_file_with_a_byte_order_mark_is_accepted(org, tmp_path):
    file = tmp_path / "bom.json"
    file.write_bytes(b"\xef\xbb\xbf" + json.dumps(MINIMAL).encode())

    assert 'Created process "Channel"' in import_file(org, file)
