"""A key sent by mistake in the query string is rejected by auth and never written verbatim to the access log."""

from __future__ import annotations

import logging

from server.logfilter import ACCESS_LOGGER, CredentialRedactor, redact_url


def test_redact_url_hides_only_secret_values():
    assert redact_url("/v1/models") == "/v1/models"
    assert redact_url("/v1/models?limit=3&q=a%20b") == "/v1/models?limit=3&q=a%20b"  # untouched, byte for byte
    out = redact_url("/v1/models?api_key=sk-live-123&limit=3&TOKEN=abc")
    assert "sk-live-123" not in out and "abc" not in out
    assert out == "/v1/models?api_key=REDACTED&limit=3&TOKEN=REDACTED"


def test_filter_rewrites_a_uvicorn_access_record_and_keeps_it(caplog):
    record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "GET", "/ready?api_key=sk-secret", "1.1", 401), None)
    assert CredentialRedactor().filter(record) is True
    assert "sk-secret" not in record.getMessage() and "api_key=REDACTED" in record.getMessage()
    assert record.getMessage().endswith('HTTP/1.1" 401')


def test_create_app_installs_the_redactor_once(tmp_path, fast_parts):
    from server.app import create_app
    from tests.server.conftest import make_settings

    for _ in range(2):
        create_app(make_settings(tmp_path, fast_parts.folder))
    filters = [f for f in logging.getLogger(ACCESS_LOGGER).filters if isinstance(f, CredentialRedactor)]
    assert len(filters) == 1
