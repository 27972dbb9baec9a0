"""``define_config``: the whole app, as ``authward serve --app app.py`` loads it."""

from __future__ import annotations

__all__ = ["Config", "define_config"]

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from authward.config.auth import Auth
from authward.config.db import DbType
from authward.errors import ConfigError, ConfigIssue


@dataclass(frozen=True, eq=False)
class Config:
    auth: Auth[Any]
    db_types: tuple[DbType, ...]


def define_config(*, auth: Auth[Any], db: Sequence[DbType] = ()) -> Config:
    """One app: exactly one auth and its database types (the profile's type is always included)."""
    issues: list[ConfigIssue] = []
    if isinstance(auth, list | tuple):
        issues.append(
            ConfigIssue("define_config.auth", "an application has exactly one auth, not a list")
        )
    elif not isinstance(auth, Auth):
        issues.append(ConfigIssue("define_config.auth", "expected the result of define_auth()"))
    types: list[DbType] = []
    for i, t in enumerate(db):
        if not isinstance(t, DbType):
            issues.append(ConfigIssue(f"define_config.db[{i}]", "expected a db.type(...)"))
        elif any(other.table_name == t.table_name and other is not t for other in types):
            issues.append(ConfigIssue(f"define_config.db[{i}]", f"type {t.name!r} defined twice"))
        elif t not in types:
            types.append(t)
    profile = auth.user_profile if isinstance(auth, Auth) else None
    if profile is not None and profile.type not in types:
        if any(other.table_name == profile.type.table_name for other in types):
            issues.append(
                ConfigIssue(
                    "define_config.db",
                    f"type {profile.type.name!r} defined twice "
                    "(user_profile.type is a different db.type with the same name)",
                )
            )
        types.insert(0, profile.type)
    if issues:
        raise ConfigError(issues)
    return Config(auth=auth, db_types=tuple(types))
