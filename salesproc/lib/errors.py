"""Errors raised by services. Pages and the API turn them into field messages and HTTP statuses."""


class ServiceError(Exception):
    """A refused write. `message` is shown to the user as is."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotAllowed(ServiceError):
    """The caller's role does not allow this write."""


class InvalidInput(ServiceError):
    """Bad input; `errors` maps a field name (or "__all__") to a list of messages."""

    def __init__(self, errors: dict[str, list[str]] | str):
        if isinstance(errors, str):
            errors = {"__all__": [errors]}
        self.errors = errors
        super().__init__(
            "; ".join(f"{k}: {' '.join(v)}" if k != "__all__" else " ".join(v) for k, v in errors.items())
        )


class StaleVersion(ServiceError):
    """Someone else changed the object since the caller read it."""

    def __init__(self, current_version: int):
        super().__init__(
            f"This deal was changed by someone else (now version {current_version}). Reload and try again."
        )
        self.current_version = current_version


class CriteriaUnmet(ServiceError):
    """A forward move was refused; `unmet` lists the criteria, `can_override` says if a manager may."""

    def __init__(self, unmet: list[dict], can_override: bool):
        labels = ", ".join(c["label"] for c in unmet)
        super().__init__(f"Exit criteria not met: {labels}")
        self.unmet = unmet
        self.can_override = can_override
