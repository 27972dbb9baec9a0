"""The organizations aggregate keeps to its layers (issue 14): SQL only in store/orgs.py, and the
domain service and its ports take no runtime, no settings and nothing of channel/ (what deleting
an organization needs of API keys is a port)."""

from __future__ import annotations

from tests.unit.test_session_layers import SRC, imported

ORGS_OUTSIDE_STORE = [SRC / "identity" / "orgs.py", SRC / "identity" / "org_ports.py"]


def roots(names: set[str]) -> set[str]:
    return {name.split(".")[0] for name in names}


def test_only_the_store_of_organizations_imports_sqlalchemy() -> None:
    assert "sqlalchemy" in roots(imported(SRC / "store" / "orgs.py"))
    for path in ORGS_OUTSIDE_STORE:
        assert "sqlalchemy" not in roots(imported(path)), path


def test_the_organizations_service_takes_no_runtime_settings_nor_channel() -> None:
    for path in ORGS_OUTSIDE_STORE:
        names = imported(path)
        assert "authward.runtime" not in names, path
        assert "authward.settings" not in names, path
        assert not any(n.startswith("authward.channel") for n in names), path


def test_the_old_module_is_gone() -> None:
    assert not (SRC / "orgs.py").exists()
