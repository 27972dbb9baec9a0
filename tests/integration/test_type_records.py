"""Records of db types on SQLite and PostgreSQL: hooks, validators, checks, unique fields."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from authward import db
from authward.config.db import DbType
from authward.errors import ConfigError, RecordError
from authward.principal import Principal, use_principal
from authward.runtime import Authward
from authward.store.type_records import Records
from authward.store.type_tables import sync_type_tables

ORG = uuid.UUID("550e8400-e29b-41d4-a716-446655440000")
TEAM = uuid.UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")


def _principal(role: str, *attribute_list: uuid.UUID) -> Principal:
    return Principal(
        "test",
        "user",
        f"{role.lower()}-1",
        f"{role.lower()}@example.com",
        attributes={"role": role},
        attribute_list=attribute_list,
    )


ADMIN = _principal("ADMIN", ORG, TEAM)
READER = _principal("READER", ORG, TEAM)


def _user_type(aw: Authward) -> DbType:
    return next(t for t in aw.config.db_types if t.name == "User")


def _users(aw: Authward) -> Records:
    return aw.records(_user_type(aw))


def _new_user(email: str, **extra: object) -> dict[str, object]:
    return {"email": email, "organization_id": ORG, "team_id": str(TEAM), **extra}


def _refused(exc: pytest.ExceptionInfo[RecordError], field: str) -> str:
    assert exc.value.code == "invalid_record"
    assert exc.value.field == field
    assert str(exc.value).startswith(f"{exc.value.type_name}.{field}: ")
    assert "\n" not in str(exc.value)
    return exc.value.message


# -- the example app's User ----------------------------------------------------------------------


async def test_create_fills_id_timestamps_and_the_role_hook(runtime: Authward) -> None:
    users = _users(runtime)
    before = datetime.now(UTC)
    alice = await users.create(_new_user("alice@example.com"), user=None)
    assert isinstance(alice["id"], uuid.UUID)
    assert alice["role"] == "USER"
    assert alice["team_id"] == TEAM
    assert alice["updated_at"] is None
    created = alice["created_at"]
    assert isinstance(created, datetime)
    assert created.tzinfo is not None
    assert created.utcoffset() == timedelta(0)
    assert before <= created <= datetime.now(UTC)
    assert list(alice) == ["id", *(n for n in _user_type(runtime).fields if n != "id")]

    assert await users.get(alice["id"]) == alice
    assert await users.get(str(alice["id"])) == alice
    assert await users.find("email", "alice@example.com") == alice
    assert await users.find("email", "nobody@example.com") is None
    assert await users.get(uuid.uuid4()) is None


async def test_create_keeps_a_given_id_and_refuses_it_twice(runtime: Authward) -> None:
    users = _users(runtime)
    chosen = uuid.uuid4()
    first = await users.create({"id": chosen, **_new_user("a@example.com")}, user=None)
    assert first["id"] == chosen
    with pytest.raises(RecordError) as exc:
        await users.create({"id": str(chosen), **_new_user("b@example.com")}, user=None)
    _refused(exc, "id")
    assert await users.find("email", "b@example.com") is None


async def test_non_admin_cannot_make_an_admin_and_nothing_is_stored(runtime: Authward) -> None:
    users = _users(runtime)
    for actor in (READER, None):
        with pytest.raises(RecordError) as exc:
            await users.create(_new_user("boss@example.com", role="ADMIN"), user=actor)
        assert str(exc.value) == "User.role: only admins can make admins"
        assert _refused(exc, "role") == "only admins can make admins"
    assert await users.find("email", "boss@example.com") is None
    # The reader may still create ordinary users.
    assert (await users.create(_new_user("r@example.com", role="READER"), user=READER))[
        "role"
    ] == "READER"


async def test_admin_can_make_an_admin(runtime: Authward) -> None:
    boss = await _users(runtime).create(_new_user("boss@example.com", role="ADMIN"), user=ADMIN)
    assert boss["role"] == "ADMIN"
    assert await _users(runtime).find("role", "ADMIN") == boss


async def test_the_current_principal_is_used_when_user_is_not_passed(runtime: Authward) -> None:
    users = _users(runtime)
    with use_principal(READER), pytest.raises(RecordError, match="only admins can make admins"):
        await users.create(_new_user("boss@example.com", role="ADMIN"))
    with use_principal(ADMIN):
        boss = await users.create(_new_user("boss@example.com", role="ADMIN"))
        # An explicit user wins over the context, even an explicit None.
        with pytest.raises(RecordError, match="only admins"):
            await users.create(_new_user("boss2@example.com", role="ADMIN"), user=None)
    assert boss["role"] == "ADMIN"
    with pytest.raises(RecordError, match="only admins"):
        await users.update(boss["id"], {"role": "ADMIN"})  # type: ignore[arg-type]


async def test_update_changes_given_fields_sets_updated_at_and_validates(
    runtime: Authward,
) -> None:
    users = _users(runtime)
    bob = await users.create(_new_user("bob@example.com"), user=None)
    bob_id: Any = bob["id"]
    moved = await users.update(bob_id, {"team_id": ORG}, user=READER)
    assert moved["team_id"] == ORG
    assert moved["email"] == "bob@example.com"
    assert moved["created_at"] == bob["created_at"]
    assert isinstance(moved["updated_at"], datetime)
    assert moved["updated_at"] >= bob["created_at"]  # type: ignore[operator]
    assert await users.get(bob_id) == moved

    with pytest.raises(RecordError) as exc:
        await users.update(bob_id, {"role": "ADMIN", "email": "b@example.com"}, user=READER)
    assert str(exc.value) == "User.role: only admins can make admins"
    assert await users.get(bob_id) == moved  # nothing of the refused update was written

    promoted = await users.update(bob_id, {"role": "ADMIN"}, user=ADMIN)
    assert promoted["role"] == "ADMIN"
    assert promoted["updated_at"] >= moved["updated_at"]  # type: ignore[operator]
    # The validator runs for the fields being written only: an admin's record stays editable.
    assert (await users.update(bob_id, {"email": "bob@b.example"}, user=READER))["role"] == "ADMIN"


async def test_update_refuses_id_change_auto_fields_missing_record_and_none(
    runtime: Authward,
) -> None:
    users = _users(runtime)
    bob = await users.create(_new_user("bob@example.com"), user=None)
    bob_id: Any = bob["id"]
    with pytest.raises(RecordError) as exc:
        await users.update(bob_id, {"id": uuid.uuid4()}, user=None)
    assert _refused(exc, "id") == "cannot be changed"
    assert (await users.update(bob_id, {"id": bob_id}, user=None))["id"] == bob_id
    with pytest.raises(RecordError) as exc:
        await users.update(bob_id, {"updated_at": datetime.now(UTC)}, user=None)
    _refused(exc, "updated_at")
    with pytest.raises(RecordError) as exc:
        await users.update(bob_id, {"email": None}, user=None)
    assert _refused(exc, "email") == "is required"
    with pytest.raises(RecordError) as exc:
        await users.update(uuid.uuid4(), {"email": "x@example.com"}, user=None)
    _refused(exc, "id")


async def test_unique_email_is_reported_naming_the_field(runtime: Authward) -> None:
    users = _users(runtime)
    await users.create(_new_user("taken@example.com"), user=None)
    with pytest.raises(RecordError) as exc:
        await users.create(_new_user("taken@example.com"), user=None)
    assert str(exc.value) == "User.email: this value is already taken"
    assert exc.value.__cause__ is not None
    other = await users.create(_new_user("other@example.com"), user=None)
    with pytest.raises(RecordError) as exc:
        await users.update(other["id"], {"email": "taken@example.com"}, user=None)  # type: ignore[arg-type]
    _refused(exc, "email")
    assert (await users.get(other["id"]))["email"] == "other@example.com"  # type: ignore[arg-type,index]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        (_new_user("a@example.com", nickname="al"), "nickname", "User has no such field"),
        (_new_user("a@example.com", created_at=datetime.now(UTC)), "created_at", "set by the"),
        ({**_new_user("a@example.com"), "email": 42}, "email", "expected string, got int"),
        (_new_user("a@example.com", team_id="not-a-uuid"), "team_id", "is not a UUID"),
        (_new_user("a@example.com", role="OWNER"), "role", "'OWNER' is not one of ADMIN"),
        (_new_user("a@example.com", role=True), "role", "expected enum, got bool"),
        ({"email": "a@example.com", "team_id": TEAM}, "organization_id", "is required"),
        ({"organization_id": ORG, "team_id": TEAM}, "email", "is required"),
    ],
)
async def test_bad_values_are_refused_naming_the_field(
    runtime: Authward, values: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(RecordError) as exc:
        await _users(runtime).create(values, user=ADMIN)
    assert message in _refused(exc, field)
    assert await _users(runtime).find("email", "a@example.com") is None


async def test_concurrent_writes_neither_fail_nor_duplicate(runtime: Authward) -> None:
    users = _users(runtime)
    results = await asyncio.gather(
        *(users.create(_new_user("race@example.com"), user=None) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, dict) for r in results) == 1
    taken = "User.email: this value is already taken"
    assert all(isinstance(r, dict) or str(r) == taken for r in results)
    winner: Any = next(r for r in results if isinstance(r, dict))
    # Read-then-write updates queue up instead of failing on a lock upgrade (SQLite).
    teams = [uuid.uuid4() for _ in range(6)]
    await asyncio.gather(*(users.update(winner["id"], {"team_id": t}, user=None) for t in teams))
    final: Any = await users.get(winner["id"])
    assert final["team_id"] in teams


async def test_delete(runtime: Authward) -> None:
    users = _users(runtime)
    gone = await users.create(_new_user("gone@example.com"), user=None)
    assert await users.delete(gone["id"]) is True  # type: ignore[arg-type]
    assert await users.delete(gone["id"]) is False  # type: ignore[arg-type]
    assert await users.get(gone["id"]) is None  # type: ignore[arg-type]


async def test_records_refuses_a_type_the_app_does_not_have(runtime: Authward) -> None:
    stray = db.type("Stray", {"name": db.string()})
    with pytest.raises(ConfigError, match="Stray is not one of this app's db types"):
        runtime.records(stray)


# -- a custom type: arrays, booleans, the seed's attribute_list hook, a failing hook --------------


def _boom(value: object, **_: object) -> bool:
    if value == "boom":
        raise RuntimeError("the title validator blew up")
    return True


def _note_type() -> DbType:
    return (
        db.type(
            "Note",
            {
                "title": db.string(),
                "tags": db.string(array=True),
                "pinned": db.bool(),
                "flags": db.bool(array=True).optional(),
                "organization_id": db.uuid(),
                "watchers": db.uuid(array=True).optional(),
                "reminders": db.datetime(array=True).optional(),
                "score": db.float().optional(),
                "views": db.int().optional(),
                **db.fields.timestamps(),
            },
        )
        .hooks(
            # The seed's example: the first UUID of the acting user's attribute list.
            organization_id={"create": lambda user, **_: user.attribute_list[0]},
            title={"update": lambda value, data, **_: value or data["title"]},
        )
        .validate(title=_boom, tags=[(lambda value, **_: len(value) <= 3, "at most 3 tags")])
    )


@pytest.fixture
async def notes(runtime: Authward) -> Records:
    note = _note_type()
    async with runtime.engine.begin() as conn:
        await conn.run_sync(lambda c: sync_type_tables(c, [note]))
    return Records(note, runtime.engine)


async def test_custom_type_round_trips_arrays_and_booleans(notes: Records) -> None:
    watcher = uuid.uuid4()
    reminder = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    note = await notes.create(
        {
            "title": "hello",
            "tags": ("a", "b"),
            "pinned": False,
            "flags": [True, False],
            "watchers": [str(watcher)],
            "reminders": [reminder],
            "score": 3,
            "views": 2**40,
        },
        user=ADMIN,
    )
    stored = await notes.get(note["id"])  # type: ignore[arg-type]
    assert stored == note
    assert stored["tags"] == ["a", "b"]
    assert stored["pinned"] is False
    assert stored["flags"] == [True, False]
    assert stored["organization_id"] == ORG  # from ADMIN.attribute_list[0]
    assert stored["watchers"] == [watcher]
    assert stored["reminders"] == [reminder]
    assert stored["reminders"][0].tzinfo == UTC
    assert stored["score"] == 3.0
    assert isinstance(stored["score"], float)
    assert stored["views"] == 2**40
    assert await notes.find("pinned", False) == stored

    empty = await notes.create({"title": "t", "tags": [], "pinned": True}, user=READER)
    assert empty["tags"] == []
    assert empty["flags"] is None
    assert empty["pinned"] is True
    assert await notes.find("pinned", True) == empty

    # The update hook keeps the title when none is given; arrays change as a whole.
    changed = await notes.update(empty["id"], {"tags": ["x"]}, user=None)  # type: ignore[arg-type]
    assert changed["title"] == "t"
    assert changed["tags"] == ["x"]


async def test_custom_type_refuses_bad_arrays_and_failing_validators(notes: Records) -> None:
    cases: list[tuple[dict[str, object], str, str]] = [
        ({"tags": "a,b"}, "tags", "expected string[], got str"),
        ({"tags": ["a", 1]}, "tags", "item 1: expected string, got int"),
        ({"tags": ["a", None]}, "tags", "item 1"),
        ({"tags": ["a", "b", "c", "d"]}, "tags", "at most 3 tags"),
        ({"pinned": 1}, "pinned", "expected boolean, got int"),
        ({"flags": [1]}, "flags", "item 0: expected boolean, got int"),
        ({"views": True}, "views", "expected int, got bool"),
        ({"views": 2**64}, "views", "out of range"),
        ({"score": float("nan")}, "score", "finite"),
        ({"reminders": [datetime(2030, 1, 1)]}, "reminders", "timezone-aware"),
        ({"title": "boom"}, "title", "validator failed: the title validator blew up"),
    ]
    for change, field, message in cases:
        values = {"title": "ok", "tags": [], "pinned": True, **change}
        with pytest.raises(RecordError) as exc:
            await notes.create(values, user=ADMIN)
        assert message in _refused(exc, field), change
    with pytest.raises(RecordError) as exc:
        await notes.find("tags", ["a"])
    _refused(exc, "tags")
    assert await notes.find("pinned", True) is None


async def test_a_hook_that_raises_is_reported_for_its_field(notes: Records) -> None:
    # No principal: the seed's hook reads user.attribute_list of None and raises.
    with pytest.raises(RecordError) as exc:
        await notes.create({"title": "t", "tags": [], "pinned": True}, user=None)
    message = _refused(exc, "organization_id")
    assert message.startswith("create hook failed: ")
    assert "attribute_list" in message
    assert isinstance(exc.value.__cause__, AttributeError)
    # A principal with an empty attribute list: IndexError, same report.
    nobody = Principal("test", "user", "n", "n@example.com")
    with pytest.raises(RecordError) as exc:
        await notes.create({"title": "t", "tags": [], "pinned": True}, user=nobody)
    _refused(exc, "organization_id")
    assert isinstance(exc.value.__cause__, IndexError)
    assert await notes.find("title", "t") is None


async def test_async_hooks_and_validators_are_awaited(runtime: Authward) -> None:
    async def shout(value: object, **_: object) -> object:
        return str(value).upper()

    async def not_empty(value: object, **_: object) -> bool:
        return bool(value)

    shout_type = db.type("Shout", {"text": db.string()}).hooks(text={"create": shout})
    # ValidatorFn is typed as returning bool; coroutines are awaited all the same.
    shout_type.validate(text=[(not_empty, "say something")])  # type: ignore[list-item]
    async with runtime.engine.begin() as conn:
        await conn.run_sync(lambda c: sync_type_tables(c, [shout_type]))
    shouts = Records(shout_type, runtime.engine)
    assert (await shouts.create({"text": "hi"}, user=None))["text"] == "HI"
    with pytest.raises(RecordError, match=r"^Shout\.text: say something$"):
        await shouts.create({"text": ""}, user=None)
