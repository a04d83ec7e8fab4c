""".env.example: every setting documented, no secret or unknown name; compose's variables are documented."""

from __future__ import annotations

import re

from tests.deploy.helpers import (
    COMPOSE_FILE, ROOT, SECRET_NAME, T2L_COMPOSE_ONLY, T2L_EXTRAS, env_example, settings_env_names
)


def test_env_example_documents_every_setting():
    _, mentioned = env_example()
    missing = sorted(settings_env_names() - mentioned)
    assert not missing, f".env.example lacks these settings of server/settings.py: {missing} (add a commented " \
                        f"`#NAME=default` line with a word on what it does)"


def test_env_example_has_no_secret_or_unknown_names():
    active, mentioned = env_example()
    unknown = sorted(n for n in mentioned if n.startswith("T2L_")
                     and n not in settings_env_names() | T2L_EXTRAS | T2L_COMPOSE_ONLY)
    assert not unknown, f"not settings of the service: {unknown}"
    assert not [k for k in active if k.startswith("T2L_") and active[k] == ""], "empty T2L_ values are not unset"
    for key, value in active.items():
        assert not (SECRET_NAME.search(key) and value), f"{key} is set in .env.example"
    assert not re.search(r"sha256:[0-9a-f]{64}", (ROOT / ".env.example").read_text()), "a real key entry"


def test_compose_variables_are_known(compose):
    """Every ${VAR} in docker-compose.yml is documented in .env.example; every T2L_* one is a real setting."""
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text()))
    _, mentioned = env_example()
    assert names <= mentioned, f"document in .env.example: {sorted(names - mentioned)}"
    for service in compose["services"].values():
        for key in service.get("environment", {}):
            if key.startswith("T2L_"):
                assert key in settings_env_names() | T2L_EXTRAS, key
