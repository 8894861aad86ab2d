"""Settings come from the environment and fail fast: each case starts Django in a fresh process with a
controlled environment (no DEBUG unless the case sets it), as a server would start."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# What reads the settings the way a running server does: settings, then the Celery app built from them.
SHOW = """
import json, django
django.setup()
from django.conf import settings
from salesproc.celery import app
print(json.dumps({
    "debug": settings.DEBUG,
    "eager": bool(app.conf.task_always_eager),
    "ssl_redirect": getattr(settings, "SECURE_SSL_REDIRECT", False),
    "session_cookie_secure": getattr(settings, "SESSION_COOKIE_SECURE", False),
    "csrf_cookie_secure": getattr(settings, "CSRF_COOKIE_SECURE", False),
    "hsts_seconds": getattr(settings, "SECURE_HSTS_SECONDS", 0),
    "hsts_subdomains": getattr(settings, "SECURE_HSTS_INCLUDE_SUBDOMAINS", False),
    "proxy_ssl_header": getattr(settings, "SECURE_PROXY_SSL_HEADER", None),
    "engine": settings.DATABASES["default"]["ENGINE"],
}))
"""


@pytest.fixture
def production(tmp_path) -> dict[str, str]:
    """The documented production variables (README, Settings), with a random 50+ character key."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "example.com",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }


def start(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run manage.py (or `python -c`) from the repository with exactly `env` plus PATH."""
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONDONTWRITEBYTECODE": "1"}
    clean.update({"DJANGO_SETTINGS_MODULE": "salesproc.settings", **env})
    command = [sys.executable, *args] if args[0] == "-c" else [sys.executable, "manage.py", *args]
    return subprocess.run(command, cwd=REPO, env=clean, capture_output=True, text=True, timeout=120)


def show(env: dict[str, str]) -> dict:
    result = start(env, "-c", SHOW)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def refused(env: dict[str, str]) -> str:
    """Start-up must fail; return the last line of the error (the ImproperlyConfigured message)."""
    result = start(env, "check")
    assert result.returncode != 0, result.stdout
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("django.core.exceptions.ImproperlyConfigured: "), result.stderr
    return last.removeprefix("django.core.exceptions.ImproperlyConfigured: ")


# Production refuses to start without what it needs


def test_production_starts_with_the_documented_variables(production):
    assert start(production, "check").returncode == 0


def test_production_without_a_secret_key_refuses_to_start(production):
    del production["SECRET_KEY"]

    assert refused(production) == "SECRET_KEY must be set in production (or set DEBUG=1 for development)"


def test_production_with_a_short_secret_key_refuses_to_start(production):
    production["SECRET_KEY"] = "k" * 49

    assert refused(production) == "SECRET_KEY must be at least 50 characters long"


@pytest.mark.parametrize("hosts", [None, "", " , "])
def test_production_without_allowed_hosts_refuses_to_start(production, hosts):
    production.pop("ALLOWED_HOSTS")
    if hosts is not None:
        production["ALLOWED_HOSTS"] = hosts

    assert refused(production) == "ALLOWED_HOSTS must be set in production (comma-separated host names)"


@pytest.mark.parametrize("broker", [None, ""])
def test_production_without_a_broker_refuses_to_start_rather_than_run_tasks_eagerly(production, broker):
    production.pop("CELERY_BROKER_URL")
    if broker is not None:
        production["CELERY_BROKER_URL"] = broker

    assert refused(production) == "CELERY_BROKER_URL must be set in production (e.g. redis://redis:6379/0)"


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_a_debug_value_that_is_not_a_boolean_is_refused_by_name(production, value):
    production["DEBUG"] = value

    assert refused(production) == (f"DEBUG={value!r} is not a boolean (use 1/0, true/false, yes/no, on/off)")


@pytest.mark.parametrize(
    "url",
    ["nonsense", "mongodb://db/salesproc", "postgres://sales:s3cret-pw@db:notaport/salesproc"],
)
def test_a_bad_database_url_is_refused_by_name_without_echoing_it(production, url):
    production["DATABASE_URL"] = url

    message = refused(production)

    assert message.startswith("DATABASE_URL is not a database URL (")
    assert "s3cret-pw" not in message


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DATABASE_CONN_MAX_AGE", "soon", "DATABASE_CONN_MAX_AGE='soon' is not an integer"),
        ("SECURE_HSTS_SECONDS", "-1", "SECURE_HSTS_SECONDS=-1 must be at least 0"),
        ("CELERY_TASK_TIME_LIMIT", "5", "CELERY_TASK_TIME_LIMIT=5 must be at least 10"),
        ("SECURE_SSL_REDIRECT", "sometimes", "SECURE_SSL_REDIRECT='sometimes' is not a boolean"),
    ],
)
def test_other_bad_values_are_refused_by_name(production, name, value, message):
    production[name] = value

    assert refused(production).startswith(message)


# Development mode


def test_development_without_a_broker_runs_tasks_in_process(tmp_path):
    shown = show({"DEBUG": "1", "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.sqlite3'}"})

    assert shown["debug"] is True
    assert shown["eager"] is True


def test_development_with_a_broker_uses_it():
    shown = show({"DEBUG": "1", "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"})

    assert shown["eager"] is False


def test_development_needs_no_variables_at_all():
    shown = show({"DEBUG": "1"})

    assert shown["engine"] == "django.db.backends.sqlite3"
    assert shown["eager"] is True


# Production is secure by default


def test_production_is_https_only_with_hsts_by_default(production):
    shown = show(production)

    assert shown["debug"] is False and shown["eager"] is False
    assert shown["ssl_redirect"] and shown["session_cookie_secure"] and shown["csrf_cookie_secure"]
    assert shown["hsts_seconds"] == 31536000 and shown["hsts_subdomains"] is True
    assert shown["proxy_ssl_header"] is None


def test_the_https_protections_are_switched_by_their_variables(production):
    production.update(
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        SECURE_HSTS_SECONDS="0",
        SECURE_PROXY_SSL_HEADER="1",
    )

    shown = show(production)

    assert (shown["ssl_redirect"], shown["session_cookie_secure"], shown["csrf_cookie_secure"]) == (
        False,
        False,
        False,
    )
    assert shown["hsts_seconds"] == 0
    assert shown["proxy_ssl_header"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_check_deploy_reports_nothing_in_production(production):
    result = start(production, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
    assert "WARNING" not in result.stderr and "security.W" not in result.stderr


def test_check_deploy_fails_when_the_https_protections_are_off(production):
    production.update(SECURE_SSL_REDIRECT="0", SECURE_HSTS_SECONDS="0")

    result = start(production, "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode != 0
    assert "security.W004" in result.stderr  # no HSTS
    assert "security.W008" in result.stderr  # no SSL redirect
