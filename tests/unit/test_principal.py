"""The Principal: frozen, typed, and carried by a context variable."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any
from uuid import UUID

import pytest

from authward import Principal, current_principal, use_principal

ORG = "550e8400-e29b-41d4-a716-446655440000"
TEAM = "7c9e6679-7425-40de-944b-e07fc1f90ae7"


def principal(name: str = "admin", **kwargs: Any) -> Principal:
    return Principal(
        authenticator="machine_user",
        principal_type="machine",
        principal_id=f"id-{name}",
        subject=name,
        **kwargs,
    )


# --- immutability ---------------------------------------------------------------------------


def test_fields() -> None:
    p = principal(attributes={"role": "ADMIN"}, attribute_list=[ORG])
    assert p.authenticator == "machine_user"
    assert p.principal_type == "machine"
    assert p.principal_id == "id-admin"
    assert p.subject == "admin"


def test_defaults_are_empty() -> None:
    p = principal()
    assert dict(p.attributes) == {}
    assert p.attribute_list == ()


@pytest.mark.parametrize("name", ["subject", "principal_id", "attributes", "attribute_list"])
def test_principal_is_immutable(name: str) -> None:
    p = principal()
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(p, name, "x")


def test_attributes_mapping_is_read_only() -> None:
    p = principal(attributes={"role": "ADMIN"})
    with pytest.raises(TypeError):
        p.attributes["role"] = "USER"  # type: ignore[index]
    with pytest.raises(TypeError):
        del p.attributes["role"]  # type: ignore[attr-defined]


def test_attributes_are_copied_from_the_callers_dict() -> None:
    given: dict[str, Any] = {"role": "ADMIN"}
    p = principal(attributes=given)
    given["role"] = "USER"
    given["extra"] = "x"
    assert dict(p.attributes) == {"role": "ADMIN"}


def test_list_attributes_frozen_to_tuples() -> None:
    tags = ["a", "b"]
    p = principal(attributes={"tags": tags, "flags": [True, False], "empty": []})
    tags.append("c")
    assert p.attributes["tags"] == ("a", "b")
    assert p.attributes["flags"] == (True, False)
    assert p.attributes["empty"] == ()
    assert isinstance(p.attributes["tags"], tuple)


def test_scalar_attribute_values_kept() -> None:
    p = principal(attributes={"role": "ADMIN", "active": False, "tuple": ("x",)})
    assert p.attributes["role"] == "ADMIN"
    assert p.attributes["active"] is False
    assert p.attributes["tuple"] == ("x",)


@pytest.mark.parametrize(
    "value", [1, 1.5, None, {"a": 1}, ["a", True], [1, 2], [None], {"a"}, b"bytes"]
)
def test_invalid_attribute_values_refused(value: object) -> None:
    with pytest.raises(TypeError, match="attribute 'x' must be a string, a boolean or a list"):
        principal(attributes={"x": value})


def test_attribute_list_strings_become_uuids() -> None:
    p = principal(attribute_list=[ORG, UUID(TEAM)])
    assert p.attribute_list == (UUID(ORG), UUID(TEAM))
    assert all(isinstance(v, UUID) for v in p.attribute_list)
    assert isinstance(p.attribute_list, tuple)


def test_attribute_list_keeps_order() -> None:
    assert principal(attribute_list=[TEAM, ORG]).attribute_list == (UUID(TEAM), UUID(ORG))


def test_invalid_uuid_in_attribute_list_refused() -> None:
    with pytest.raises(ValueError, match="UUID"):
        principal(attribute_list=[ORG, "not-a-uuid"])


def test_equal_principals_compare_equal() -> None:
    a = principal(attributes={"tags": ["x"]}, attribute_list=[ORG])
    b = principal(attributes={"tags": ("x",)}, attribute_list=[UUID(ORG)])
    assert a == b
    assert a != principal("other")


# --- current_principal / use_principal ------------------------------------------------------


def test_nobody_by_default() -> None:
    assert current_principal() is None


def test_use_principal_sets_and_restores() -> None:
    p = principal()
    with use_principal(p) as active:
        assert active is p
        assert current_principal() is p
    assert current_principal() is None


def test_use_principal_nests_and_restores_each_level() -> None:
    outer, inner = principal("outer"), principal("inner")
    with use_principal(outer):
        with use_principal(inner):
            assert current_principal() is inner
            with use_principal(None):
                assert current_principal() is None
            assert current_principal() is inner
        assert current_principal() is outer
    assert current_principal() is None


def test_use_principal_restores_after_an_exception() -> None:
    outer = principal("outer")
    with use_principal(outer):
        with pytest.raises(RuntimeError), use_principal(principal("inner")):
            raise RuntimeError("boom")
        assert current_principal() is outer
    assert current_principal() is None


async def test_tasks_are_isolated() -> None:
    started = asyncio.Event()
    release = asyncio.Event()
    seen: dict[str, Principal | None] = {}

    async def act_as(name: str) -> None:
        p = principal(name)
        with use_principal(p):
            started.set()
            await release.wait()
            seen[name] = current_principal()

    async def watch() -> None:
        await started.wait()
        seen["watcher"] = current_principal()
        release.set()

    await asyncio.gather(act_as("alice"), act_as("bob"), watch())
    assert seen["alice"] is not None
    assert seen["alice"].subject == "alice"
    assert seen["bob"] is not None
    assert seen["bob"].subject == "bob"
    assert seen["watcher"] is None
    assert current_principal() is None


async def test_task_inherits_the_principal_but_cannot_change_the_parents() -> None:
    parent = principal("parent")

    async def child() -> str | None:
        inherited = current_principal()
        with use_principal(principal("child")):
            await asyncio.sleep(0)
        # leave a principal set with no reset: only this task's context copy changes
        use_principal(principal("leaked")).__enter__()
        return inherited.subject if inherited else None

    with use_principal(parent):
        assert await asyncio.create_task(child()) == "parent"
        assert current_principal() is parent
    assert current_principal() is None
