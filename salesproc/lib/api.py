"""DRF error mapping: service errors become 400/403/409 with a body naming what is wrong."""

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from salesproc.lib.errors import CriteriaUnmet, InvalidInput, NotAllowed, ServiceError, StaleVersion


def exception_handler(exc, context):
    """Service errors become 400/403/409 with a JSON body naming what is wrong."""
    if isinstance(exc, StaleVersion):
        return Response(
            {"detail": exc.message, "code": "stale_version", "current_version": exc.current_version},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, CriteriaUnmet):
        return Response(
            {
                "detail": exc.message,
                "code": "criteria_unmet",
                "unmet_criteria": exc.unmet,
                "can_override": exc.can_override,
            },
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, InvalidInput):
        body = {k if k != "__all__" else "non_field_errors": v for k, v in exc.errors.items()}
        return Response(body, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, NotAllowed):
        return Response({"detail": exc.message, "code": "not_allowed"}, status=status.HTTP_403_FORBIDDEN)
    if isinstance(exc, ServiceError):
        return Response({"detail": exc.message}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    return drf_exception_handler(exc, context)
