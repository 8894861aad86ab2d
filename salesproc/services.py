"""Writes to the process definition. Every edit locks the process and records a new ProcessVersion."""

from django.db import IntegrityError, transaction
from django.db.models import Max

from orgs.models import Membership, Organization
from salesproc.lib.errors import InvalidInput, NotAllowed
from salesproc.models import CriterionKind, ExitCriterion, Process, ProcessVersion, Stage
from salesproc.process_schema import CRITERION_PARAM, ProcessFileError, validate_process_data


def _require_process_editor(by: Membership | None, org: Organization) -> None:
    # `by=None` is for trusted system callers (import command, demo seeder).
    if by is None:
        return
    if by.organization_id != org.id or not by.can_edit_process:
        raise NotAllowed("Only ops can edit the process.")


def process_snapshot(process: Process) -> dict:
    """The process as its file format (see process_schema); also the version snapshot."""
    stages = list(Stage.objects.filter(process=process).order_by("order").prefetch_related("criteria"))
    out_stages = []
    for stage in stages:
        criteria = []
        for c in sorted(stage.criteria.all(), key=lambda c: (c.order, c.id)):
            item = {"kind": c.kind, "label": c.label, "importance": c.importance}
            param = CRITERION_PARAM[CriterionKind(c.kind)]
            if param:
                item[param] = getattr(c, param)
            item["description"] = c.description
            criteria.append(item)
        out_stages.append(
            {
                "name": stage.name,
                "phase": stage.phase,
                "probability": stage.probability,
                "expected_days": stage.expected_days,
                "guidance": stage.guidance,
                "criteria": criteria,
            }
        )
    return {"name": process.name, "description": process.description, "stages": out_stages}


def describe_changes(before: dict | None, after: dict) -> list[str]:
    """Plain-language differences between two snapshots, for the version history."""
    if before is None:
        return [f"Created with {len(after['stages'])} stages"]
    changes: list[str] = []
    if before["name"] != after["name"]:
        changes.append(f'Renamed process "{before["name"]}" to "{after["name"]}"')
    old = {s["name"]: (i, s) for i, s in enumerate(before["stages"])}
    new = {s["name"]: (i, s) for i, s in enumerate(after["stages"])}
    # A stage gone and another new at the same place is a rename (stage_update keeps the row), so the
    # history says "Renamed" and compares the rest of the stage rather than reporting a remove and an add.
    gone = {old[name][0]: name for name in old if name not in new}
    renamed = {name: gone[i] for name, (i, _) in new.items() if name not in old and i in gone}
    was = {name: renamed.get(name, name) for name in new}
    for name, old_name in renamed.items():
        changes.append(f'Renamed stage "{old_name}" to "{name}"')
    for name in new:
        if was[name] not in old:
            changes.append(f'Added stage "{name}"')
    for name in old:
        if name not in new and name not in renamed.values():
            changes.append(f'Removed stage "{name}"')
    old_order = [was_name for was_name in (s["name"] for s in before["stages"]) if was_name in was.values()]
    new_order = [s["name"] for s in after["stages"] if was[s["name"]] in old]
    if old_order != [was[name] for name in new_order]:
        changes.append("Reordered stages: " + " → ".join(new_order))
    for name, (_, s_new) in new.items():
        if was[name] not in old:
            continue
        s_old = old[was[name]][1]
        for key, label in (
            ("phase", "phase"),
            ("probability", "probability"),
            ("expected_days", "expected days"),
        ):
            if s_old[key] != s_new[key]:
                changes.append(f"{name}: {label} {s_old[key]} → {s_new[key]}")
        if s_old["guidance"] != s_new["guidance"]:
            changes.append(f"{name}: guidance edited")
        c_old = {(c["kind"], c["label"]): c for c in s_old["criteria"]}
        c_new = {(c["kind"], c["label"]): c for c in s_new["criteria"]}
        for key, c in c_new.items():
            if key not in c_old:
                changes.append(f'{name}: added {c["importance"]} criterion "{c["label"]}"')
            elif c_old[key] != c:
                if c_old[key]["importance"] != c["importance"]:
                    changes.append(
                        f'{name}: criterion "{c["label"]}" {c_old[key]["importance"]} → {c["importance"]}'
                    )
                else:
                    changes.append(f'{name}: criterion "{c["label"]}" edited')
        for key, c in c_old.items():
            if key not in c_new:
                changes.append(f'{name}: removed criterion "{c["label"]}"')
    return changes


def _record_version(process: Process, *, author, note: str, force: bool = False) -> ProcessVersion | None:
    """Snapshot the process into a new version when it changed (or when forced); caller holds the lock."""
    snapshot = process_snapshot(process)
    previous = ProcessVersion.objects.filter(process=process).order_by("-number").first()
    if previous is not None and previous.snapshot == snapshot and not force:
        return None
    version = ProcessVersion.objects.create(
        organization_id=process.organization_id,
        process=process,
        number=(previous.number + 1) if previous else 1,
        author=author,
        note=note[:300],
        snapshot=snapshot,
        changes=describe_changes(previous.snapshot if previous else None, snapshot),
    )
    Process.objects.filter(pk=process.pk).update(current_version=version)
    process.current_version = version
    return version


def _add_steps_to_open_deals(criteria, by: Membership | None) -> None:
    """Step criteria reach the plans of open deals already in their stage (see deals.services.moves)."""
    from deals.services.moves import add_criterion_steps_to_open_deals

    for criterion in criteria:
        add_criterion_steps_to_open_deals(criterion, by_user_id=by.user_id if by else None)


def _lock_process(process: Process) -> Process:
    return Process.objects.select_for_update().get(pk=process.pk)


def _renumber(process: Process, stage_ids: list[int]) -> None:
    # Two passes keep the (process, order) unique constraint satisfied at every statement.
    offset = (Stage.objects.filter(process=process).aggregate(m=Max("order"))["m"] or 0) + 1000
    for i, sid in enumerate(stage_ids):
        Stage.objects.filter(pk=sid, process=process).update(order=offset + i)
    for i, sid in enumerate(stage_ids):
        Stage.objects.filter(pk=sid, process=process).update(order=i + 1)


def _apply_process_data(process: Process, data: dict) -> None:
    """Make the process's stages and criteria match `data` (validated). Stages and criteria are matched
    by name / (kind, label) so history, steps and answers that point at them survive."""
    existing = {s.name: s for s in Stage.objects.filter(process=process).prefetch_related("criteria")}
    wanted = {s["name"] for s in data["stages"]}
    for name, stage in existing.items():
        if name not in wanted:
            if stage.deals.exists() or stage.entries.exists():
                raise InvalidInput(
                    {
                        "stages": [
                            f'Stage "{name}" has deals or history and cannot be removed; move its deals first.'
                        ]
                    }
                )
            stage.delete()
    order_ids: list[int] = []
    base = (Stage.objects.filter(process=process).aggregate(m=Max("order"))["m"] or 0) + 2000
    for i, sdata in enumerate(data["stages"]):
        stage = existing.get(sdata["name"])
        fields = {
            "phase": sdata["phase"],
            "probability": sdata["probability"],
            "expected_days": sdata["expected_days"],
            "guidance": sdata["guidance"],
        }
        if stage is None:
            stage = Stage.objects.create(
                organization_id=process.organization_id,
                process=process,
                name=sdata["name"],
                order=base + i,
                **fields,
            )
            current = {}
        else:
            Stage.objects.filter(pk=stage.pk).update(**fields)
            current = {(c.kind, c.label): c for c in stage.criteria.all()}
        order_ids.append(stage.pk)
        seen = set()
        for j, cdata in enumerate(data["stages"][i]["criteria"]):
            key = (cdata["kind"], cdata["label"])
            seen.add(key)
            param = CRITERION_PARAM[CriterionKind(cdata["kind"])]
            cfields = {
                "importance": cdata["importance"],
                "order": j,
                "description": cdata.get("description", ""),
                "field_name": "",
                "role": "",
                "activity_kind": "",
                "question": "",
            }
            if param:
                cfields[param] = cdata[param]
            if key in current:
                ExitCriterion.objects.filter(pk=current[key].pk).update(**cfields)
            else:
                ExitCriterion.objects.create(
                    organization_id=process.organization_id,
                    stage=stage,
                    kind=cdata["kind"],
                    label=cdata["label"],
                    **cfields,
                )
        for key, crit in current.items():
            if key not in seen:
                crit.delete()
    _renumber(process, order_ids)


@transaction.atomic
def process_import(
    *, org: Organization, data, by: Membership | None, note: str = ""
) -> tuple[Process, ProcessVersion | None]:
    """Create or update the process named in `data` (the file format). All or nothing; returns the
    process and the new version (None when the file matches the current version)."""
    _require_process_editor(by, org)
    try:
        clean = validate_process_data(data)
    except ProcessFileError as exc:
        raise InvalidInput({"file": exc.errors}) from None
    process = Process.objects.for_org(org).filter(name=clean["name"]).first()
    created = process is None
    if created:
        process = Process.objects.create(
            organization=org, name=clean["name"], description=clean["description"]
        )
    else:
        process = _lock_process(process)
        if process.description != clean["description"]:
            Process.objects.filter(pk=process.pk).update(description=clean["description"])
            process.description = clean["description"]
    _apply_process_data(process, clean)
    if not created:
        _add_steps_to_open_deals(
            ExitCriterion.objects.filter(stage__process=process, kind=CriterionKind.STEP), by
        )
    version = _record_version(
        process, author=by.user if by else None, note=note or ("Created" if created else "Imported from file")
    )
    return process, version


def process_export(*, process: Process) -> dict:
    return process_snapshot(process)


@transaction.atomic
def process_create(*, org: Organization, by: Membership | None, name: str, description: str = "") -> Process:
    """A new, empty-named process with one starting stage, so deals can enter it."""
    _require_process_editor(by, org)
    name = (name or "").strip()
    if not name:
        raise InvalidInput({"name": ["A process needs a name."]})
    if Process.objects.for_org(org).filter(name=name).exists():
        raise InvalidInput({"name": [f'A process named "{name}" already exists.']})
    process = Process.objects.create(organization=org, name=name, description=description)
    Stage.objects.create(
        organization=org, process=process, name="Qualify", order=1, phase="change", probability=10
    )
    _record_version(process, author=by.user if by else None, note="Created")
    return process


STAGE_EDITABLE = ("name", "phase", "probability", "expected_days", "guidance")


def _validate_stage_fields(
    process: Process, fields: dict, *, stage: Stage | None = None
) -> dict[str, list[str]]:
    from salesproc.models import Phase

    errors: dict[str, list[str]] = {}
    if "name" in fields:
        name = (fields["name"] or "").strip()
        fields["name"] = name
        if not name:
            errors["name"] = ["A stage needs a name."]
        elif len(name) > 80:
            errors["name"] = ["At most 80 characters."]
        else:
            clash = Stage.objects.filter(process=process, name__iexact=name)
            if stage is not None:
                clash = clash.exclude(pk=stage.pk)
            if clash.exists():
                errors["name"] = [f'This process already has a stage named "{name}".']
    if "phase" in fields and fields["phase"] not in Phase.values:
        errors["phase"] = [f"Choose one of {', '.join(Phase.values)}."]
    if "probability" in fields:
        p = fields["probability"]
        if not isinstance(p, int) or isinstance(p, bool) or not 0 <= p <= 100:
            errors["probability"] = ["A whole number from 0 to 100."]
    if "expected_days" in fields:
        d = fields["expected_days"]
        if d is not None and (not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= 3650):
            errors["expected_days"] = ["Empty, or a whole number of days from 1 to 3650."]
    return errors


@transaction.atomic
def stage_add(
    *, process: Process, by: Membership | None, note: str = "", position: int | None = None, **fields
) -> Stage:
    """Add a stage (at the end, or at 1-based `position`) and record a version."""
    _require_process_editor(by, process.organization)
    process = _lock_process(process)
    fields = {k: v for k, v in fields.items() if k in STAGE_EDITABLE}
    fields.setdefault("phase", "change")
    fields.setdefault("probability", 10)
    errors = _validate_stage_fields(process, fields)
    if "name" not in fields:
        errors["name"] = ["A stage needs a name."]
    if errors:
        raise InvalidInput(errors)
    ids = list(Stage.objects.filter(process=process).order_by("order").values_list("id", flat=True))
    top = (Stage.objects.filter(process=process).aggregate(m=Max("order"))["m"] or 0) + 5000
    stage = Stage.objects.create(
        organization_id=process.organization_id, process=process, order=top, **fields
    )
    if position is None or position > len(ids):
        ids.append(stage.pk)
    else:
        ids.insert(max(position - 1, 0), stage.pk)
    _renumber(process, ids)
    stage.refresh_from_db()
    _record_version(process, author=by.user if by else None, note=note or f"Added stage {stage.name}")
    return stage


@transaction.atomic
def stage_update(*, stage: Stage, by: Membership | None, note: str = "", **fields) -> Stage:
    """Edit a stage's name, phase, probability, expected days or guidance; record a version."""
    _require_process_editor(by, stage.process.organization)
    process = _lock_process(stage.process)
    fields = {k: v for k, v in fields.items() if k in STAGE_EDITABLE}
    errors = _validate_stage_fields(process, fields, stage=stage)
    if errors:
        raise InvalidInput(errors)
    try:
        Stage.objects.filter(pk=stage.pk).update(**fields)
    except IntegrityError:
        raise InvalidInput({"name": ["This process already has a stage with that name."]}) from None
    stage.refresh_from_db()
    _record_version(process, author=by.user if by else None, note=note or f"Edited stage {stage.name}")
    return stage


@transaction.atomic
def stage_reorder(*, process: Process, by: Membership | None, stage_ids: list[int], note: str = "") -> None:
    """Put the process's stages in the given order (every stage exactly once)."""
    _require_process_editor(by, process.organization)
    process = _lock_process(process)
    current = set(Stage.objects.filter(process=process).values_list("id", flat=True))
    if len(stage_ids) != len(set(stage_ids)) or set(stage_ids) != current:
        raise InvalidInput({"stage_ids": ["List every stage of the process exactly once."]})
    _renumber(process, stage_ids)
    _record_version(process, author=by.user if by else None, note=note or "Reordered stages")


@transaction.atomic
def stage_move(*, stage: Stage, by: Membership | None, direction: int) -> None:
    """Move a stage one place up (-1) or down (+1)."""
    ids = list(Stage.objects.filter(process=stage.process).order_by("order").values_list("id", flat=True))
    i = ids.index(stage.pk)
    j = i + direction
    if 0 <= j < len(ids):
        ids[i], ids[j] = ids[j], ids[i]
        stage_reorder(process=stage.process, by=by, stage_ids=ids, note=f"Moved stage {stage.name}")


@transaction.atomic
def stage_delete(*, stage: Stage, by: Membership | None) -> None:
    """Remove a stage no deal has ever been in; the last stage of a process stays."""
    _require_process_editor(by, stage.process.organization)
    process = _lock_process(stage.process)
    if stage.deals.exists() or stage.entries.exists():
        raise InvalidInput({"__all__": [f'Stage "{stage.name}" has deals or history; it cannot be removed.']})
    if Stage.objects.filter(process=process).count() <= 1:
        raise InvalidInput({"__all__": ["A process needs at least one stage."]})
    name = stage.name
    stage.delete()
    _renumber(
        process, list(Stage.objects.filter(process=process).order_by("order").values_list("id", flat=True))
    )
    _record_version(process, author=by.user if by else None, note=f"Removed stage {name}")


def _validate_criterion(fields: dict) -> dict[str, list[str]]:
    from salesproc.models import Importance
    from salesproc.process_schema import _param_choices

    errors: dict[str, list[str]] = {}
    kind = fields.get("kind")
    if kind not in CriterionKind.values:
        errors["kind"] = [f"Choose one of {', '.join(CriterionKind.values)}."]
        return errors
    label = (fields.get("label") or "").strip()
    fields["label"] = label
    if not label:
        errors["label"] = ["A criterion needs a label."]
    elif len(label) > 200:
        errors["label"] = ["At most 200 characters."]
    if fields.get("importance") not in Importance.values:
        errors["importance"] = [f"Choose one of {', '.join(Importance.values)}."]
    param = CRITERION_PARAM[CriterionKind(kind)]
    for other in ("field_name", "role", "activity_kind", "question"):
        if other != param:
            fields[other] = ""
    if param:
        value = (fields.get(param) or "").strip()
        fields[param] = value
        choices = _param_choices(kind)
        if not value:
            errors[param] = ["Required for this kind of criterion."]
        elif choices is not None and value not in choices:
            errors[param] = [f"Choose one of {', '.join(choices)}."]
    return errors


CRITERION_EDITABLE = (
    "kind",
    "label",
    "importance",
    "field_name",
    "role",
    "activity_kind",
    "question",
    "description",
)


@transaction.atomic
def criterion_add(*, stage: Stage, by: Membership | None, note: str = "", **fields) -> ExitCriterion:
    """Add an exit criterion to a stage; record a version."""
    _require_process_editor(by, stage.process.organization)
    process = _lock_process(stage.process)
    fields = {k: v for k, v in fields.items() if k in CRITERION_EDITABLE}
    fields.setdefault("importance", "mandatory")
    errors = _validate_criterion(fields)
    if (
        not errors
        and ExitCriterion.objects.filter(
            stage=stage, kind=fields["kind"], label__iexact=fields["label"]
        ).exists()
    ):
        errors["label"] = ["This stage already has that criterion."]
    if errors:
        raise InvalidInput(errors)
    order = (ExitCriterion.objects.filter(stage=stage).aggregate(m=Max("order"))["m"] or 0) + 1
    crit = ExitCriterion.objects.create(
        organization_id=stage.organization_id, stage=stage, order=order, **fields
    )
    _add_steps_to_open_deals([crit], by)
    _record_version(
        process, author=by.user if by else None, note=note or f"{stage.name}: added criterion {crit.label}"
    )
    return crit


@transaction.atomic
def criterion_update(
    *, criterion: ExitCriterion, by: Membership | None, note: str = "", **fields
) -> ExitCriterion:
    _require_process_editor(by, criterion.stage.process.organization)
    process = _lock_process(criterion.stage.process)
    merged = {k: getattr(criterion, k) for k in CRITERION_EDITABLE}
    merged.update({k: v for k, v in fields.items() if k in CRITERION_EDITABLE})
    errors = _validate_criterion(merged)
    if errors:
        raise InvalidInput(errors)
    ExitCriterion.objects.filter(pk=criterion.pk).update(**merged)
    criterion.refresh_from_db()
    _add_steps_to_open_deals([criterion], by)
    _record_version(
        process, author=by.user if by else None, note=note or f"Edited criterion {criterion.label}"
    )
    return criterion


@transaction.atomic
def criterion_delete(*, criterion: ExitCriterion, by: Membership | None) -> None:
    _require_process_editor(by, criterion.stage.process.organization)
    process = _lock_process(criterion.stage.process)
    label = criterion.label
    criterion.delete()
    _record_version(process, author=by.user if by else None, note=f"Removed criterion {label}")
