"""Shared fixtures. Tests marked `postgres`, `redis` or `browser` need those services: outside CI they
skip with the reason printed; in CI (CI=true) they fail when the service is missing."""

import os
import shutil
import socket

import pytest
from django.db import connection

from salesproc.celery import app as celery_app

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"


def _redis_url() -> str | None:
    return os.environ.get("CELERY_BROKER_URL") or None


def _redis_up() -> bool:
    url = _redis_url()
    if not url or not url.startswith("redis://"):
        return False
    hostport = url.split("//", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]
    host, _, port = hostport.partition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port or 6379)), timeout=1):
            return True
    except OSError:
        return False


def _need(condition: bool, reason: str) -> None:
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI requires this service: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _service_markers(request):
    if request.node.get_closest_marker("postgres"):
        _need(connection.vendor == "postgresql", "needs PostgreSQL (set DATABASE_URL=postgres://...)")
    if request.node.get_closest_marker("redis"):
        _need(_redis_up(), "needs Redis (set CELERY_BROKER_URL=redis://127.0.0.1:6379/0)")
    if request.node.get_closest_marker("browser"):
        _need(os.path.exists(CHROMIUM), f"needs Debian's chromium at {CHROMIUM}")


@pytest.fixture(autouse=True, scope="session")
def _eager_celery():
    # Tests run tasks in-process unless a test starts a real worker (see tests/test_celery_worker.py).
    previous = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager = previous


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"


def pytest_report_header(config):
    vendor = "postgresql" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "sqlite"
    return [
        f"salesproc: database={vendor} redis={'yes' if _redis_up() else 'no'} "
        f"chromium={'yes' if os.path.exists(CHROMIUM) else 'no'} ci={IN_CI}"
    ]


from tests.fixtures import *  # noqa: E402,F403
