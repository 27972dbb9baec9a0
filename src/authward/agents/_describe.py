"""``describe_principal``: one deterministic paragraph about the principal, for agent instructions.

Only attributes from an allow-list are used (name, role, organization, user, client, token type,
permissions, scopes): attributes are free-form and custom claims may hold anything, so nothing
else is ever written into a prompt. Values are flattened to one line, stripped of control
characters and shortened, so a crafted attribute cannot break out of the paragraph.
"""

from __future__ import annotations

from collections.abc import Iterable

from authward.principal import AttributeValue, Principal

_MAX_VALUE = 120
_MAX_LIST = 30

_TOKEN_TYPES = {
    "session_token": "a session token",
    "api_key": "an API key",
    "m2m_token": "a machine-to-machine token",
    "oauth_token": "an OAuth access token",
}


def _clean(value: str) -> str:
    text = " ".join("".join(c if c.isprintable() else " " for c in value).split())
    return text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…"


def _one(value: AttributeValue | None) -> str | None:
    if isinstance(value, str):
        return _clean(value) or None
    return None


def _many(values: Iterable[AttributeValue | None], *, split: bool = False) -> list[str]:
    items: set[str] = set()
    for value in values:
        if isinstance(value, str):
            items.update(value.split() if split else (value,))
        elif isinstance(value, tuple):
            items.update(v for v in value if isinstance(v, str))
    return sorted(c for c in (_clean(i) for i in items) if c)


def _list(label: str, values: list[str]) -> str:
    more = len(values) - _MAX_LIST
    text = ", ".join(values[:_MAX_LIST]) + (f" and {more} more" if more > 0 else "")
    return f" {label}: {text}."


def describe_principal(principal: Principal | None) -> str:
    """Describe who the agent acts for, e.g. ``You are acting for user "Ada" (user_1), ...``.

    The same principal always gives the same text (lists are sorted). ``None`` describes an
    anonymous caller. Secrets and tokens are never included: only allow-listed attributes are read.
    """
    if principal is None:
        return "You are acting for an anonymous, unauthenticated caller."
    attrs = principal.attributes
    subject = _clean(principal.subject) or _clean(principal.principal_id) or "unknown"
    name = _one(attrs.get("name"))
    who = f'"{name.replace(chr(34), chr(39))}" ({subject})' if name else subject
    text = f"You are acting for {principal.principal_type} {who}"

    token_type = _one(attrs.get("tokenType"))
    how = _TOKEN_TYPES.get(token_type or "", f"a {token_type} token" if token_type else "")
    authenticator = _clean(principal.authenticator)
    if authenticator:
        text += f", authenticated by {authenticator}"
        if how:
            text += f" with {how}"
    elif how:
        text += f", authenticated with {how}"

    roles = _many((attrs.get("role"), attrs.get("orgRole")))
    if roles:
        text += f", with role{'s' if len(roles) > 1 else ''} {', '.join(roles)}"
    org = _one(attrs.get("orgId"))
    if org:
        text += f", in organization {org}"
    user = _one(attrs.get("userId"))
    if user and user != subject:
        text += f", on behalf of user {user}"
    client = _one(attrs.get("clientId"))
    if client:
        text += f", through OAuth client {client}"
    text += "."

    permissions = _many((attrs.get("permissions"),))
    if permissions:
        text += _list("Permissions", permissions)
    scopes = _many((attrs.get("scopes"), attrs.get("scope")), split=True)
    if scopes:
        text += _list("Scopes", scopes)
    return text
