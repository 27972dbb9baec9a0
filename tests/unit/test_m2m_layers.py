"""Machines and M2M tokens keep to their layers (issue 14): SQL only in store/m2m.py, no runtime
object nor the whole Settings in the services or their ports, and nothing of them in channel/."""

from __future__ import annotations

from authward.identity.m2m_tokens import M2MTokens
from authward.identity.machines import Machines
from tests.unit.test_session_layers import SRC, imported

M2M_OUTSIDE_STORE = [
    SRC / "identity" / "machines.py",
    SRC / "identity" / "m2m_tokens.py",
    SRC / "identity" / "m2m_ports.py",
]


def test_only_the_store_of_m2m_imports_sqlalchemy() -> None:
    assert "sqlalchemy" in {n.split(".")[0] for n in imported(SRC / "store" / "m2m.py")}
    for path in M2M_OUTSIDE_STORE:
        roots = {name.split(".")[0] for name in imported(path)}
        assert "sqlalchemy" not in roots, path
        assert not any(n.startswith("authward.store.engine") for n in imported(path)), path


def test_the_m2m_services_take_ports_not_the_runtime_nor_settings() -> None:
    for path in M2M_OUTSIDE_STORE:
        names = imported(path)
        assert "authward.runtime" not in names, path
        assert "authward.settings" not in names, path
    for service in (Machines, M2MTokens):
        wanted = " ".join(map(str, service.__init__.__annotations__.values()))
        for whole in ("Engine", "Settings", "Authward"):
            assert whole not in wanted, (service, whole)
        assert "Port" in wanted, service


def test_channel_keeps_no_m2m_service() -> None:
    assert not (SRC / "channel" / "m2m.py").exists()
    for path in (SRC / "channel").glob("*.py"):
        assert not any(n.startswith("authward.identity") for n in imported(path)), path
