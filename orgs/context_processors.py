from orgs.middleware import current_membership


def current_organization(request):
    """The membership, org and (for the org switcher) the user's memberships, at no extra query."""
    membership = current_membership(request) if getattr(request, "user", None) else None
    return {
        "membership": membership,
        "org": membership.organization if membership else None,
        "user_memberships": getattr(request, "_user_memberships", [membership] if membership else []),
    }
