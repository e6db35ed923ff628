"""Every environment variable the code reads is documented and passed by docker-compose."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

BASE_DIR = Path(__file__).resolve().parent.parent
READ = re.compile(r"""(?:environ\.get|env_bool|env_int|env_list|_secret|env\.get)\(\s*["']([A-Z][A-Z0-9_]+)["']""")


def variables_read_by(*paths: str) -> set[str]:
    return {name for path in paths for name in READ.findall((BASE_DIR / path).read_text())}


SETTINGS_VARIABLES = variables_read_by("etlportal/settings.py")
# Set in the image itself (Dockerfile ENV), not per service.
IMAGE_VARIABLES = {"DATA_DIR", "STATIC_ROOT"}


def test_the_variable_scan_finds_the_settings_it_should():
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DEBUG"} <= SETTINGS_VARIABLES


def test_every_setting_is_passed_explicitly_to_every_app_service():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    dockerfile = (BASE_DIR / "Dockerfile").read_text()

    for service in ("migrate", "web", "worker", "beat"):
        passed = set(compose["services"][service]["environment"])
        assert passed >= SETTINGS_VARIABLES - IMAGE_VARIABLES, service
    for name in IMAGE_VARIABLES:
        assert re.search(rf"\b{name}=", dockerfile), name
    assert "uploads:/data/uploads" in compose["services"]["web"]["volumes"]
    assert "uploads:/data/uploads" in compose["services"]["worker"]["volumes"]
    for service in ("postgres", "redis", "web", "worker", "beat"):
        assert "healthcheck" in compose["services"][service], service


def test_every_variable_is_documented_in_the_readme():
    readme = (BASE_DIR / "README.md").read_text()
    everything = variables_read_by(
        "etlportal/settings.py", "etlportal/launcher.py", "etlportal/management/commands/ensure_admin.py"
    )
    everything |= variables_read_by("tests/services.py")

    undocumented = sorted(name for name in everything if f"`{name}`" not in readme and name != "DJANGO_SETTINGS_MODULE")
    assert undocumented == []


@pytest.mark.django_db
def test_models_and_migrations_agree():
    from django.core.management import call_command

    call_command("makemigrations", "--check", "--dry-run", verbosity=0)
