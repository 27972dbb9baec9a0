"""``authward generate``: the generated ``authward_types.py`` makes mypy catch config mistakes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import authward
from authward import ConfigError, define_auth, define_config, t
from authward.codegen import GENERATED_HEADER, render_types, write_types
from authward.config import Config, load_app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PACKAGE = Path(authward.__file__).resolve().parent
ORG = "550e8400-e29b-41d4-a716-446655440000"

SAMPLE_APP = f'''\
from __future__ import annotations

from typing import TYPE_CHECKING

from authward import db, define_auth, define_config

if TYPE_CHECKING:
    from authward_types import AppAuth, MachineUsers

member = db.type(
    "Member",
    {{
        "email": db.string().unique(),
        "role": db.enum(["ADMIN", "USER"]),
        "tags": db.string(array=True),
        "team_id": db.uuid(),
    }},
)

machine_users: MachineUsers = {{
    "admin-machine-user": {{
        "attributes": {{"role": "ADMIN", "tags": ["ops"]}},
        "attribute_list": ["{ORG}"],
    }},
    "reader": {{"attributes": {{"role": "USER", "tags": ()}}, "attribute_list": ["{ORG}"]}},
}}

auth: AppAuth = define_auth(
    "sample",
    user_profile={{
        "type": member,
        "username_field": "email",
        "attributes": {{"role": True, "tags": True}},
        "attribute_list": ["team_id"],
    }},
    machine_users=machine_users,
    oauth2_clients={{"web": {{"redirect_uris": ["https://example.com/cb"]}}}},
)

config = define_config(auth=auth, db=[member])
'''

SAMPLE_USER = """\
from uuid import uuid4

from app import auth
from authward import Invoker
from authward_types import AttributeList, Attributes, OAuth2ClientName

client: OAuth2ClientName = "web"
ids: AttributeList = (uuid4(),)
attributes: Attributes = {"role": "USER", "tags": ["a", "b"]}


def nightly_job() -> Invoker:
    return auth.invoker("admin-machine-user")
"""

# Each mistake is on its own line; the marker comment names the line mypy must report.
SAMPLE_MISTAKES = """\
from app import auth
from authward_types import MachineUsers

auth.invoker("typo")  # mistake: typo
wrong_type: MachineUsers = {
    "a": {"attributes": {"role": 5, "tags": []}, "attribute_list": []},  # mistake: role 5
}
wrong_enum: MachineUsers = {
    "b": {"attributes": {"role": "OWNER", "tags": []}, "attribute_list": []},  # mistake: OWNER
}
"""


def mistake_lines(source: str) -> dict[str, int]:
    return {
        m.group(1): source[: m.start()].count("\n") + 1
        for m in re.finditer(r"# mistake: (.+)$", source, re.MULTILINE)
    }


def write_project(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    config, _ = load_app(directory / "app.py")
    assert write_types(config, directory / "authward_types.py")
    return directory


def run_mypy(project: Path) -> tuple[int, str]:
    """``mypy --strict`` on every module of ``project``, as its user would run it."""
    (project / "mypy.ini").write_text("[mypy]\n", encoding="utf-8")  # not the repo's config
    env = dict(os.environ)
    if PACKAGE.parent.name == "src":  # a source checkout: check against it, not an install
        env["MYPYPATH"] = str(PACKAGE.parent)
    files = sorted(p.name for p in project.glob("*.py"))
    # authward's own modules are checked by its own CI: report the project's errors only
    options = ["--cache-dir", str(project / ".mypy_cache"), "--follow-imports", "silent"]
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--config-file", "mypy.ini", *options, *files],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


def errors(output: str) -> dict[tuple[str, int], str]:
    return {
        (m.group(1), int(m.group(2))): m.group(3)
        for m in re.finditer(r"^(\S+\.py):(\d+): error: (.*)$", output, re.MULTILINE)
    }


def edge_config() -> Config:
    """No profile and no machine users; a keyword attribute name; every array kind."""
    auth = define_auth(
        "edge",
        machine_user_attributes={
            "class": t.string(),
            "flags": t.bool(array=True),
            "levels": t.enum(["it's", 'say "hi"', "tab\there", "é"], array=True),
            "verified": t.bool(),
        },
    )
    return define_config(auth=auth)


@pytest.fixture
def keep_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``load_app`` puts the app's folder on ``sys.path``; undo it after the test."""
    monkeypatch.setattr(sys, "path", list(sys.path))


# --- the generated module -------------------------------------------------------------------


def test_committed_example_types_are_up_to_date(keep_sys_path: None) -> None:
    config, _ = load_app(EXAMPLES / "app.py")
    committed = (EXAMPLES / "authward_types.py").read_text(encoding="utf-8")
    assert committed == render_types(config), (
        "examples/authward_types.py is stale: run `authward generate --app examples/app.py`"
    )


def test_example_types_read_as_the_config_says(keep_sys_path: None) -> None:
    config, _ = load_app(EXAMPLES / "app.py")
    source = render_types(config)
    assert source.startswith(GENERATED_HEADER + "\n")
    assert 'MachineUserName: TypeAlias = Literal[\n    "admin-machine-user",\n' in source
    assert 'role: Literal["ADMIN", "READER", "USER"]' in source
    assert "    UUID,  # organization_id\n    UUID,  # team_id\n" in source
    assert "AppAuth: TypeAlias = Auth[MachineUserName]" in source
    exec(compile(source, "authward_types.py", "exec"), {})  # noqa: S102 - it imports at run time


def test_names_are_sorted_and_output_is_deterministic() -> None:
    def config(names: list[str]) -> Config:
        auth = define_auth("a", machine_users={n: {} for n in names})
        return define_config(auth=auth)

    first = render_types(config(["zeta", "alpha", "mid"]))
    assert first == render_types(config(["mid", "zeta", "alpha"]))
    assert first.index('"alpha"') < first.index('"mid"') < first.index('"zeta"')


def test_nothing_defined_makes_every_name_an_error() -> None:
    source = render_types(define_config(auth=define_auth("empty")))
    assert "MachineUserName: TypeAlias = Never" in source
    assert "OAuth2ClientName: TypeAlias = Never" in source
    assert "AttributeList: TypeAlias = tuple[()]" in source
    assert "    attributes: NotRequired[Attributes]" in source
    assert "    attribute_list: NotRequired[Sequence[str | UUID]]" in source


def test_edge_attributes_render_precisely() -> None:
    source = render_types(edge_config(), app_module="edge/app.py")
    assert source.splitlines()[:2] == [GENERATED_HEADER, "# Source: edge/app.py"]
    assert 'Attributes = TypedDict(\n    "Attributes",' in source  # "class" is a keyword
    assert '        "class": str,' in source
    assert '        "flags": Sequence[bool],' in source
    assert """Sequence[Literal["it's", 'say "hi"', "tab\\there", "é"]]""" in source


@pytest.mark.parametrize("line_length", [88, 100])  # ruff's default and this project's
def test_generated_modules_are_ruff_formatted(tmp_path: Path, line_length: int) -> None:
    long_values = [f"VALUE_{i:02}_{'X' * 20}" for i in range(5)]
    auth = define_auth(
        "long",
        machine_user_attributes={
            "role": t.enum(long_values),
            "roles": t.enum(long_values, array=True),
        },
        machine_users={
            f"machine-{i}": {"attributes": {"role": long_values[0], "roles": []}} for i in range(3)
        },
    )
    for name, config in {"edge": edge_config(), "long": define_config(auth=auth)}.items():
        (tmp_path / f"{name}.py").write_text(render_types(config), encoding="utf-8")
    options = ["--isolated", "--no-cache", "--line-length", str(line_length), "."]
    for command in (["format", "--check"], ["check", "--select", "E,F,W,I,UP,B,RUF"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, *options],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stdout + result.stderr


# --- write_types ------------------------------------------------------------------------------


def test_write_types_writes_only_when_the_content_changes(tmp_path: Path) -> None:
    out = tmp_path / "authward_types.py"
    config = define_config(auth=define_auth("a", machine_users={"job": {}}))
    assert write_types(config, out) is True
    first = out.stat().st_mtime_ns
    assert write_types(config, out) is False
    assert out.stat().st_mtime_ns == first
    other = define_config(auth=define_auth("a", machine_users={"job": {}, "cron": {}}))
    assert write_types(other, out) is True
    assert out.read_text(encoding="utf-8") == render_types(other)


def test_write_types_never_overwrites_a_hand_written_file(tmp_path: Path) -> None:
    out = tmp_path / "app.py"
    out.write_text("config = ...\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not written by `authward generate`"):
        write_types(define_config(auth=define_auth("a")), out)
    assert out.read_text(encoding="utf-8") == "config = ...\n"


def test_package_is_marked_typed() -> None:
    """Without ``py.typed`` (PEP 561) a user's mypy ignores authward's types, these included."""
    assert (PACKAGE / "py.typed").is_file()


# --- mypy on sample projects (slow: one mypy run each) ------------------------------------


def test_mypy_accepts_a_correct_project(tmp_path: Path, keep_sys_path: None) -> None:
    project = write_project(tmp_path / "good", {"app.py": SAMPLE_APP, "user.py": SAMPLE_USER})
    code, output = run_mypy(project)
    assert code == 0, output
    assert "Success: no issues found in 3 source files" in output


def test_mypy_reports_each_mistake_on_its_line(tmp_path: Path, keep_sys_path: None) -> None:
    files = {"app.py": SAMPLE_APP, "mistakes.py": SAMPLE_MISTAKES}
    project = write_project(tmp_path / "bad", files)
    code, output = run_mypy(project)
    assert code == 1, output
    found = errors(output)
    lines = mistake_lines(SAMPLE_MISTAKES)
    assert set(found) == {("mistakes.py", line) for line in lines.values()}, output
    typo, role_5, owner = (found["mistakes.py", lines[k]] for k in ("typo", "role 5", "OWNER"))
    assert 'Argument 1 to "invoker" of "Auth" has incompatible type "Literal[\'typo\']"' in typo
    assert 'type "Literal[5]", TypedDict item "role"' in role_5
    assert 'type "Literal[\'OWNER\']", TypedDict item "role"' in owner
    assert "Literal['ADMIN', 'USER']" in owner


def test_mypy_without_machine_users_refuses_every_invoker(
    tmp_path: Path, keep_sys_path: None
) -> None:
    """A keyword attribute (functional TypedDict), no attribute_list, no machine users."""
    app = (
        "from __future__ import annotations\n\n"
        "from typing import TYPE_CHECKING\n\n"
        "from authward import define_auth, define_config, t\n\n"
        "if TYPE_CHECKING:\n"
        "    from authward_types import AppAuth\n\n"
        'attributes = {"class": t.string(), "flags": t.bool(array=True)}\n'
        'auth: AppAuth = define_auth("edge", machine_user_attributes=attributes)\n'
        "config = define_config(auth=auth)\n"
    )
    user = (
        "from app import auth\n"
        "from authward_types import MachineUsers\n\n"
        "planned: MachineUsers = {\n"
        '    "later": {"attributes": {"class": "x", "flags": (True, False)}},\n'
        "}\n"
        'auth.invoker("later")  # mistake: no users\n'
    )
    project = write_project(tmp_path / "edge", {"app.py": app, "user.py": user})
    code, output = run_mypy(project)
    assert code == 1, output
    line = mistake_lines(user)["no users"]
    assert list(errors(output)) == [("user.py", line)], output
    assert (
        'Argument 1 to "invoker" of "Auth" has incompatible type "str"; expected "Never"' in output
    )
