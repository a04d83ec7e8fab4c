"""Fixtures shared by the deployment checks (helpers.py explains the package)."""

from __future__ import annotations

import pytest
import yaml

from tests.deploy.helpers import COMPOSE_FILE, interpolate


@pytest.fixture(scope="module")
def compose() -> dict:
    """docker-compose.yml as written (merge keys resolved by PyYAML), ${...} replaced by their defaults."""
    return interpolate(yaml.safe_load(COMPOSE_FILE.read_text()))
