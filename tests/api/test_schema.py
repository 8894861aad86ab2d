"""The OpenAPI schema validates without warnings, and the docs page serves its assets locally."""

import os
import re
import subprocess
import sys

import yaml
from django.conf import settings
from rest_framework.test import APIClient


def test_schema_generates_and_validates_without_warnings(tmp_path):
    out = tmp_path / "schema.yaml"

    # A process of its own: drf-spectacular counts warnings per process and caches some lookups, so
    # in-process generation after other tests could hide a warning. --fail-on-warn turns every warning
    # (an untyped field, a guessed serializer) into a failure.
    result = subprocess.run(
        [sys.executable, "manage.py", "spectacular", "--validate", "--fail-on-warn", "--file", str(out)],
        cwd=settings.BASE_DIR,
        env={**os.environ, "DEBUG": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode == 0, result.stderr
    assert "Warning" not in result.stderr
    schema = yaml.safe_load(out.read_text())
    assert schema["openapi"].startswith("3.")
    assert "/api/deals/{deal_id}/move/" in schema["paths"]
    assert {"tokenAuth", "cookieAuth"} <= set(schema["components"]["securitySchemes"])


def test_schema_is_served(db):
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert "/api/deals/" in response.json()["paths"]


def test_move_documents_its_error_bodies(db):
    paths = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()["paths"]

    move = paths["/api/deals/{deal_id}/move/"]["post"]["responses"]
    assert set(move) == {"200", "400", "403", "409"}
    assert move["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/StaleVersionError")


def test_docs_page_uses_local_assets_only(db):
    response = APIClient().get("/api/docs/")

    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "/api/schema/" in html
    assert re.findall(r"""(?:src|href)=["'](https?://[^"']+)""", html) == []  # no CDN
