"""``store/`` uses only the public APIs of SQLAlchemy, aiosqlite, asyncpg and every other library
(decision 043): no attribute with a leading underscore is reached on anything but our own
objects, and no library class is subclassed except those made to be (``TypeDecorator``, the
constructs of SQLAlchemy's compiler extension)."""

from __future__ import annotations

import ast
from pathlib import Path

import authward.store

STORE = Path(authward.store.__file__).parent

#: Underscored names their libraries document as public: namedtuple's and SQLAlchemy ``Row``'s.
PUBLIC_UNDERSCORED = {"_asdict", "_fields", "_make", "_mapping", "_replace", "_t", "_tuple"}
#: Library classes meant to be subclassed (SQLAlchemy's custom types and its compiler
#: extension's constructs), and typing's bases.
SUBCLASSABLE = {
    "ColumnElement",
    "Enum",
    "Exception",
    "FunctionElement",
    "Generic",
    "NamedTuple",
    "Protocol",
    "TypeDecorator",
}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.endswith("__") and name not in PUBLIC_UNDERSCORED


def _base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Subscript):
        node = node.value
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ast.unparse(node)


def _members(cls: ast.ClassDef) -> set[str]:
    """What the class itself defines: methods, class attributes, slots, and ``self.x = ...``."""
    found: set[str] = set()
    for node in cls.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found.add(node.name)
        targets = node.targets if isinstance(node, ast.Assign) else []
        if isinstance(node, ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Name):
                found.add(target.id)
                if target.id == "__slots__" and isinstance(node.value, ast.Tuple | ast.List):
                    found |= {e.value for e in node.value.elts if isinstance(e, ast.Constant)}
    for node in ast.walk(cls):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            found.add(node.attr)
    return found


def private_reaches(source: str) -> list[str]:
    """Each reach into something that is not ours, as ``line: text``."""
    tree = ast.parse(source)
    ours = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    authward_names = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("authward")
        for alias in node.names
    }
    members = {name: _members(cls) for name, cls in ours.items()}
    found: list[str] = []

    def flag(node: ast.AST, why: str) -> None:
        found.append(f"{getattr(node, 'lineno', 0)}: {why}")

    def defined(cls: str, name: str) -> bool:
        if name in members.get(cls, set()):
            return True
        return any(defined(_base_name(b), name) for b in ours[cls].bases if _base_name(b) in ours)

    def visit(node: ast.AST, cls: str | None) -> None:
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = _base_name(base)
                if name not in ours and name not in authward_names and name not in SUBCLASSABLE:
                    flag(node, f"class {node.name} subclasses {ast.unparse(base)}")
            cls = node.name
        if isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls") and cls is not None:
                if not defined(cls, node.attr):
                    flag(node, f"{ast.unparse(node)} is not defined by {cls}")
            elif isinstance(owner, ast.Name) and owner.id in ours:
                if not defined(owner.id, node.attr):
                    flag(node, f"{ast.unparse(node)} is not defined by {owner.id}")
            else:
                flag(node, ast.unparse(node))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) > 1
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _private(node.args[1].value)
        ):
            flag(node, ast.unparse(node))
        for child in ast.iter_child_nodes(node):
            visit(child, cls)

    visit(tree, None)
    return found


def test_the_store_reaches_no_private_attribute_of_a_library() -> None:
    reaches = {
        str(path.relative_to(STORE)): private_reaches(path.read_text())
        for path in sorted(STORE.rglob("*.py"))
    }
    assert {path: found for path, found in reaches.items() if found} == {}
    assert len(reaches) > 20  # every module of store/ was read


def test_the_check_finds_the_reaches_the_store_used_to_make() -> None:
    """What store/direct.py and store/sqlite_driver.py did before decision 043."""
    source = """
from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_cursor

class _Cursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ()

    def _make_new_cursor(self, connection):
        return connection._conn.cursor()

    async def _on_thread(self, call):
        async with self._adapt_connection._execute_mutex:
            return await self._connection._execute(call)

def plan(compiled):
    return compiled._bind_processors, getattr(compiled, "_bind_processors")
"""
    found = private_reaches(source)
    assert any("subclasses AsyncAdapt_aiosqlite_cursor" in f for f in found)
    assert any("connection._conn" in f for f in found)
    assert any("self._adapt_connection is not defined" in f for f in found)
    assert any("self._adapt_connection._execute_mutex" in f for f in found)
    assert any("self._connection._execute" in f for f in found)
    assert any("compiled._bind_processors" in f for f in found)
    assert any("getattr(compiled, '_bind_processors')" in f for f in found)


def test_the_check_lets_our_own_underscored_names_and_public_ones_through() -> None:
    source = """
from typing import NamedTuple

_CACHE = {}

class Plan(NamedTuple):
    sql: str

class Store:
    __slots__ = ("_engine",)
    _shared = None

    def __init__(self, engine):
        self._engine = engine
        self._seen = set()

    def _helper(self):
        return self._engine, self._seen, Store._shared, self._helper

def rows(row, plan):
    return row._mapping, row._asdict(), plan._replace(sql=""), plan._fields, _CACHE
"""
    assert private_reaches(source) == []
