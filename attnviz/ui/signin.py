"""Optional sign-in: with the operator's ``ATTNVIZ_REQUIRE_LOGIN=1`` every page asks for Streamlit's built-in
``st.login`` (OIDC, configured in ``.streamlit/secrets.toml`` ``[auth]``) before anything else runs.

Off (the default) nothing changes. On, a visitor who is not signed in sees only a sign-in button; a server
whose ``[auth]`` section is missing or incomplete shows the operator what to add instead of a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping

import streamlit as st

from attnviz.operator import REQUIRE_LOGIN_ENV, require_login

#: keys Streamlit needs in ``[auth]`` itself; a provider's keys sit there too or in ``[auth.<provider>]``
_REQUIRED = ("redirect_uri", "cookie_secret")
_PROVIDER = ("client_id", "client_secret", "server_metadata_url")


def auth_problem(auth: Mapping | None) -> str | None:
    """What is missing from the ``[auth]`` secrets (None when sign-in can work).

    >>> auth_problem(None)
    'no [auth] section in .streamlit/secrets.toml'
    >>> auth_problem({"redirect_uri": "http://x/oauth2callback", "cookie_secret": "s",
    ...               "google": {"client_id": "a", "client_secret": "b", "server_metadata_url": "u"}})
    """
    if not auth:
        return "no [auth] section in .streamlit/secrets.toml"
    missing = [key for key in _REQUIRED if not auth.get(key)]
    providers = [dict(auth)] + [dict(v) for v in auth.values() if isinstance(v, Mapping)]
    if not any(all(p.get(key) for key in _PROVIDER) for p in providers):
        missing.append("a provider (" + ", ".join(_PROVIDER) + ")")
    return f"[auth] lacks {', '.join(missing)}" if missing else None


def _auth_secrets() -> Mapping | None:
    try:
        return st.secrets.get("auth")
    except FileNotFoundError:  # no secrets.toml at all (StreamlitSecretNotFoundError)
        return None


def _provider(auth: Mapping) -> str | None:
    """The provider ``st.login`` should use: None for ``[auth]``'s own keys, else the first ``[auth.x]``."""
    if auth.get("client_id"):
        return None
    return next((name for name, value in auth.items() if isinstance(value, Mapping)), None)


def require_sign_in() -> None:
    """Called by app.py before anything else: stops the run unless sign-in is off or the user is signed in."""
    if not require_login():
        return
    auth = _auth_secrets()
    problem = auth_problem(auth)
    if problem is not None:
        st.error(f"This server requires sign-in ({REQUIRE_LOGIN_ENV}=1) but it is not configured: {problem}. "
                 "The operator must add it (see the README, \"Shared servers: operator settings\") or unset "
                 f"{REQUIRE_LOGIN_ENV}.", icon="🔒")
        st.stop()
    if st.user.get("is_logged_in"):
        if st.sidebar.button("Sign out"):
            st.logout()
        return
    st.title("attnviz")
    st.info("This server asks you to sign in first.", icon="🔒")
    if st.button("Sign in", type="primary"):
        try:
            st.login(_provider(auth))
        except st.errors.StreamlitAuthError as exc:
            st.error(f"Sign-in failed: {exc}. Ask the operator to check the [auth] settings.", icon="🔒")
    st.stop()
