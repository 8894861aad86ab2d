"""Reads about people: memberships, teams, who may edit what."""

from orgs.models import Membership, Organization, Role


def membership_for(*, user, org: Organization) -> Membership | None:
    """The user's active membership in the org, with org and user loaded, or None."""
    return (
        Membership.objects.select_related("organization", "user")
        .filter(user=user, organization=org, is_active=True)
        .first()
    )


def report_user_ids(rows, membership_id: int) -> set[int]:
    """User ids of everyone who reports to the membership, directly or indirectly.

    `rows` are the org's memberships as (id, manager_id, user_id); no query, so callers that need many
    teams (the idle-deal digest) load the rows once."""
    children: dict[int, list[tuple[int, int]]] = {}
    for mid, manager_id, user_id in rows:
        children.setdefault(manager_id, []).append((mid, user_id))
    result: set[int] = set()
    stack = [membership_id]
    seen = {membership_id}
    while stack:
        current = stack.pop()
        for mid, user_id in children.get(current, []):
            if mid not in seen:
                seen.add(mid)
                result.add(user_id)
                stack.append(mid)
    return result


def team_user_ids(membership: Membership) -> set[int]:
    """User ids of the member and everyone who reports to them, directly or indirectly.

    One query over the org's memberships (orgs are small); cached on the membership object."""
    cached = getattr(membership, "_team_user_ids", None)
    if cached is not None:
        return cached
    rows = list(
        Membership.objects.filter(organization_id=membership.organization_id).values_list(
            "id", "manager_id", "user_id"
        )
    )
    result = {membership.user_id} | report_user_ids(rows, membership.id)
    membership._team_user_ids = result
    return result


def org_people(membership: Membership) -> list[Membership]:
    """The active members of the member's org with their users, by name (the owner pickers). One
    query, which also settles the member's team for `team_user_ids` (a manager's board needs both):
    it reads every membership of the org, active or not, as team_user_ids does."""
    rows = list(
        Membership.objects.filter(organization_id=membership.organization_id)
        .select_related("user")
        .order_by("user__full_name", "user__email", "id")
    )
    if getattr(membership, "_team_user_ids", None) is None:
        links = [(m.id, m.manager_id, m.user_id) for m in rows]
        membership._team_user_ids = {membership.user_id} | report_user_ids(links, membership.id)
    return [m for m in rows if m.is_active]


def can_edit_deal(membership: Membership, deal) -> bool:
    """Reps edit their own deals; managers their team's; admins every deal of the org."""
    if membership.organization_id != deal.organization_id:
        return False
    if membership.role == Role.ADMIN or deal.owner_id == membership.user_id:
        return True
    if membership.role == Role.MANAGER:
        return deal.owner_id in team_user_ids(membership)
    return False


def can_override_criteria(membership: Membership, deal) -> bool:
    """Only a manager (or admin) who may edit the deal overrides a mandatory criterion."""
    return membership.role in (Role.MANAGER, Role.ADMIN) and can_edit_deal(membership, deal)
