"""``idp.provider``'s external-login options and ``safe_return_to``: each rule, accepted and
refused, every refusal naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from authward import ConfigError, db, define_auth, idp
from authward.oauth.upstream_values import safe_return_to

USER = db.type("User", {"email": db.string().unique(), "display_name": db.string().optional()})
PROFILE: Any = {"type": USER, "username_field": "email"}
PATH = "id_provider['corp']"


def make(**kwargs: Any) -> idp.IdProvider:
    return idp.provider("corp", "web", issuer="https://sso.example.com", client_id="abc", **kwargs)


def problems(exc: ConfigError) -> dict[str, str]:
    return {i.path: i.message for i in exc.issues}


def test_defaults() -> None:
    p = make()
    assert p.scopes == ("openid", "email", "profile")
    assert p.username_claim == "email"
    assert dict(p.claims) == {}
    assert p.link_by_verified_email is False
    assert p.token_auth_method is None
    assert p.fetch_userinfo is True
    assert "RS256" in p.algorithms


def test_options_are_kept() -> None:
    p = make(
        scopes=["openid", "email"],
        claims={"name": "display_name"},
        link_by_verified_email=True,
        client_secret="s3cret",
        token_auth_method="client_secret_post",
        algorithms=["ES256"],
    )
    auth = define_auth("my-auth", user_profile=PROFILE, id_provider=p)
    assert auth.id_provider is p
    assert p.scopes == ("openid", "email")
    assert dict(p.claims) == {"name": "display_name"}
    assert p.algorithms == ("ES256",)


@pytest.mark.parametrize(
    ("kwargs", "path", "fragment"),
    [
        ({"scopes": ["email"]}, f"{PATH}.scopes", "must include 'openid'"),
        ({"scopes": "openid email"}, f"{PATH}.scopes", "not one string"),
        ({"scopes": ["openid", "bad scope"]}, f"{PATH}.scopes[1]", "is not a scope"),
        ({"username_claim": ""}, f"{PATH}.username_claim", "claim name"),
        ({"claims": ["name"]}, f"{PATH}.claims", "expected"),
        ({"claims": {"name": 3}}, f"{PATH}.claims['name']", "profile field"),
        ({"link_by_verified_email": "yes"}, f"{PATH}.link_by_verified_email", "True or False"),
        (
            {"link_by_verified_email": True, "username_claim": "preferred_username"},
            f"{PATH}.link_by_verified_email",
            "username_claim='email'",
        ),
        ({"algorithms": ["HS256"]}, f"{PATH}.algorithms", "not accepted"),
        ({"algorithms": []}, f"{PATH}.algorithms", "one algorithm or more"),
        ({"token_auth_method": "private_key_jwt"}, f"{PATH}.token_auth_method", "one of"),
        ({"token_auth_method": "client_secret_basic"}, f"{PATH}.token_auth_method", "secret"),
        ({"fetch_userinfo": 1}, f"{PATH}.fetch_userinfo", "True or False"),
    ],
)
def test_refused_options_name_the_field(
    kwargs: dict[str, Any], path: str, fragment: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AUTHWARD_IDP_CORP_CLIENT_SECRET", raising=False)
    with pytest.raises(ConfigError) as exc:
        make(**kwargs)
    assert fragment in problems(exc.value)[path]


@pytest.mark.parametrize(
    ("claims", "key", "fragment"),
    [
        ({"name": "nickname"}, "name", "has no field 'nickname'"),
        ({"email": "email"}, "email", "choose it with username_claim"),
        ({"sub": "id"}, "sub", "not set from a claim"),
    ],
)
def test_claims_must_fit_the_profile(claims: dict[str, str], key: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as exc:
        define_auth("my-auth", user_profile=PROFILE, id_provider=make(claims=claims))
    assert fragment in problems(exc.value)[f"{PATH}.claims[{key!r}]"]


def test_two_claims_cannot_fill_one_field() -> None:
    p = make(claims={"name": "display_name", "nickname": "display_name"})
    with pytest.raises(ConfigError) as exc:
        define_auth("my-auth", user_profile=PROFILE, id_provider=p)
    assert "already set from claim 'name'" in problems(exc.value)[f"{PATH}.claims['nickname']"]


def test_claims_need_a_profile() -> None:
    with pytest.raises(ConfigError) as exc:
        define_auth("my-auth", id_provider=make(claims={"name": "display_name"}))
    assert "define a user_profile" in problems(exc.value)[f"{PATH}.claims"]


def test_secret_stays_out_of_repr() -> None:
    p = make(client_secret="very-secret-value")
    assert "very-secret-value" not in repr(p)
    assert "very-secret-value" not in str(p)


@pytest.mark.parametrize(
    "value", ["/", "/after", "/a/b?c=d&e=%2F%2Fx", "/oauth2/authorize/continue?ticket=abc"]
)
def test_return_to_paths_on_this_server(value: str) -> None:
    assert safe_return_to(value) == value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "after",
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "/a\\b",
        "/\t/evil.example",
        "/\r\n/evil.example",
        "/ /evil.example",
        "/\x7f",
        "javascript:alert(1)",
        "/" + "a" * 2048,
    ],
)
def test_return_to_elsewhere_is_refused(value: str) -> None:
    assert safe_return_to(value) is None
