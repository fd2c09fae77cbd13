"""The operator's sign-in switch (ATTNVIZ_REQUIRE_LOGIN): off, the app is as it always was; on, a visitor who
is not signed in sees only a sign-in button and no model loads; on without [auth] secrets, the operator reads
what is missing instead of a stack trace."""

from __future__ import annotations

import pytest

from attnviz import ui
from tests.helpers import APP

AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "not-a-real-secret",
        "client_id": "attnviz-test", "client_secret": "x",
        "server_metadata_url": "https://accounts.example.com/.well-known/openid-configuration"}


@pytest.fixture
def loads(monkeypatch):
    """Each run that reached app.py's model picker (which loads the sidebar's model); recorded, then done."""
    seen = []
    real = ui.app_sidebar

    def recording(*args, **kwargs):
        seen.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(ui, "app_sidebar", recording)
    return seen


def _run(user: dict, secrets: dict | None = None):
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(APP, default_timeout=300)
    at.user = user
    if secrets:
        at.secrets.update(secrets)
    return at.run()


def test_switch_off_the_page_renders_as_before(monkeypatch, loads):
    monkeypatch.delenv("ATTNVIZ_REQUIRE_LOGIN", raising=False)
    at = _run({"is_logged_in": False})
    assert not at.exception
    assert [t.value for t in at.title] == ["Attention"]
    assert not [b for b in at.button if b.label == "Sign in"]
    assert loads  # the model picker ran


def test_switch_on_not_signed_in_shows_only_the_prompt(monkeypatch, loads):
    monkeypatch.setenv("ATTNVIZ_REQUIRE_LOGIN", "1")
    at = _run({"is_logged_in": False}, {"auth": AUTH})
    assert not at.exception
    assert [b.label for b in at.button] == ["Sign in"]
    assert [t.value for t in at.title] == ["attnviz"] and not at.sidebar.button
    assert "sign in" in at.info[0].value and not at.error
    assert not loads  # nothing below the prompt ran


def test_switch_on_signed_in_sees_the_app(monkeypatch, loads):
    monkeypatch.setenv("ATTNVIZ_REQUIRE_LOGIN", "1")
    at = _run({"is_logged_in": True, "email": "student@example.com"}, {"auth": AUTH})
    assert not at.exception
    assert [t.value for t in at.title] == ["Attention"]
    assert any(b.label == "Sign out" for b in at.sidebar.button)


def test_switch_on_without_auth_secrets_tells_the_operator(monkeypatch, loads):
    monkeypatch.setenv("ATTNVIZ_REQUIRE_LOGIN", "1")
    at = _run({"is_logged_in": False})
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert "requires sign-in" in message and "no [auth] section" in message and "ATTNVIZ_REQUIRE_LOGIN" in message
    assert not at.button and not loads
    partial = _run({"is_logged_in": False}, {"auth": {"redirect_uri": AUTH["redirect_uri"]}})
    assert "[auth] lacks cookie_secret, a provider" in " ".join(e.value for e in partial.error)
