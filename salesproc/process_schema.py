"""The process file format (import/export) and its validation.

The same shape is the `ProcessVersion.snapshot`. Validation collects every problem with the path to it
(`stages[2].criteria[0].importance: ...`) so a user fixes a file in one pass.
"""

import json
from typing import Any

from salesproc.models import CRITERION_FIELDS, CriterionKind, Importance, Phase

STAGE_KEYS = ("name", "phase", "probability", "expected_days", "guidance", "criteria")
CRITERION_PARAM = {
    CriterionKind.STEP: None,
    CriterionKind.FIELD: "field_name",
    CriterionKind.STAKEHOLDER_ROLE: "role",
    CriterionKind.ACTIVITY_KIND: "activity_kind",
    CriterionKind.ANSWER: "question",
}
MAX_STAGES = 30
MAX_CRITERIA = 40


class ProcessFileError(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


def _param_choices(kind: str) -> list[str] | None:
    from deals.models import ActivityKind, StakeholderRole

    if kind == CriterionKind.FIELD:
        return list(CRITERION_FIELDS)
    if kind == CriterionKind.STAKEHOLDER_ROLE:
        return [r.value for r in StakeholderRole]
    if kind == CriterionKind.ACTIVITY_KIND:
        return [k.value for k in ActivityKind]
    return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def validate_process_data(data: Any) -> dict:
    """Return the normalized process dict, or raise ProcessFileError listing each problem with its path."""
    errors: list[str] = []
    if not isinstance(data, dict):
        raise ProcessFileError(['(root): expected an object with "name" and "stages"'])
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        errors.append("name: required, a non-empty string")
    elif len(name) > 120:
        errors.append("name: at most 120 characters")
    description = data.get("description", "")
    if not isinstance(description, str):
        errors.append("description: expected a string")
    for key in data:
        if key not in ("name", "description", "stages"):
            errors.append(f"{key}: unknown key")
    stages = data.get("stages")
    out_stages: list[dict] = []
    if not isinstance(stages, list) or not stages:
        errors.append("stages: required, a non-empty list")
        stages = []
    elif len(stages) > MAX_STAGES:
        errors.append(f"stages: at most {MAX_STAGES} stages")
        stages = []
    seen_names: set[str] = set()
    for i, stage in enumerate(stages):
        path = f"stages[{i}]"
        if not isinstance(stage, dict):
            errors.append(f"{path}: expected an object")
            continue
        for key in stage:
            if key not in STAGE_KEYS:
                errors.append(f"{path}.{key}: unknown key")
        sname = stage.get("name")
        if not isinstance(sname, str) or not sname.strip():
            errors.append(f"{path}.name: required, a non-empty string")
        elif len(sname) > 80:
            errors.append(f"{path}.name: at most 80 characters")
        elif sname.strip().lower() in seen_names:
            errors.append(f'{path}.name: duplicate stage name "{sname}"')
        else:
            seen_names.add(sname.strip().lower())
        phase = stage.get("phase")
        if phase not in Phase.values:
            errors.append(f"{path}.phase: must be one of {', '.join(Phase.values)} (got {json.dumps(phase)})")
        prob = stage.get("probability")
        if not _is_int(prob) or not 0 <= prob <= 100:
            errors.append(
                f"{path}.probability: must be a whole number from 0 to 100 (got {json.dumps(prob)})"
            )
        days = stage.get("expected_days")
        if days is not None and (not _is_int(days) or not 1 <= days <= 3650):
            errors.append(f"{path}.expected_days: must be null or a whole number of days from 1 to 3650")
        guidance = stage.get("guidance", "")
        if not isinstance(guidance, str):
            errors.append(f"{path}.guidance: expected a string")
        criteria = stage.get("criteria", [])
        out_criteria: list[dict] = []
        if not isinstance(criteria, list):
            errors.append(f"{path}.criteria: expected a list")
            criteria = []
        elif len(criteria) > MAX_CRITERIA:
            errors.append(f"{path}.criteria: at most {MAX_CRITERIA} criteria per stage")
            criteria = []
        seen_labels: set[str] = set()
        for j, crit in enumerate(criteria):
            cpath = f"{path}.criteria[{j}]"
            if not isinstance(crit, dict):
                errors.append(f"{cpath}: expected an object")
                continue
            kind = crit.get("kind")
            allowed = {"kind", "label", "importance", "description"}
            if kind not in CriterionKind.values:
                errors.append(
                    f"{cpath}.kind: must be one of {', '.join(CriterionKind.values)} (got {json.dumps(kind)})"
                )
                continue
            param = CRITERION_PARAM[CriterionKind(kind)]
            if param:
                allowed.add(param)
            for key in crit:
                if key not in allowed:
                    errors.append(f'{cpath}.{key}: unknown key for a criterion of kind "{kind}"')
            label = crit.get("label")
            if not isinstance(label, str) or not label.strip():
                errors.append(f"{cpath}.label: required, a non-empty string")
            elif len(label) > 200:
                errors.append(f"{cpath}.label: at most 200 characters")
            elif (kind, label.strip().lower()) in seen_labels:
                errors.append(f'{cpath}.label: duplicate criterion "{label}" in this stage')
            else:
                seen_labels.add((kind, label.strip().lower()))
            importance = crit.get("importance", Importance.MANDATORY)
            if importance not in Importance.values:
                errors.append(f"{cpath}.importance: must be one of {', '.join(Importance.values)}")
            desc = crit.get("description", "")
            if not isinstance(desc, str):
                errors.append(f"{cpath}.description: expected a string")
            item = {
                "kind": kind,
                "label": label.strip() if isinstance(label, str) else label,
                "importance": importance,
            }
            if param:
                value = crit.get(param)
                choices = _param_choices(kind)
                if not isinstance(value, str) or not value.strip():
                    errors.append(f'{cpath}.{param}: required for a criterion of kind "{kind}"')
                elif choices is not None and value not in choices:
                    errors.append(
                        f"{cpath}.{param}: must be one of {', '.join(choices)} (got {json.dumps(value)})"
                    )
                item[param] = value
            item["description"] = desc if isinstance(desc, str) else ""
            out_criteria.append(item)
        out_stages.append(
            {
                "name": sname.strip() if isinstance(sname, str) else sname,
                "phase": phase,
                "probability": prob,
                "expected_days": days,
                "guidance": guidance if isinstance(guidance, str) else "",
                "criteria": out_criteria,
            }
        )
    if errors:
        raise ProcessFileError(errors)
    return {
        "name": name.strip(),
        "description": description,
        "stages": out_stages,
    }


def dump_process_data(data: dict) -> str:
    """The canonical text of a process file: stable key order, two-space indent, trailing newline."""
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
