"""In-memory fakes of the OAuth core's ports (src/authward/oauth/ports.py, oauth/clients.py's
``ClientSource``, grant_handlers/base.py's ``UserDirectory``, oauth/dpop.py's ``JtiStore``) and
of the token verifier's view source, so the core's unit tests need no database.
``MemoryGrantStore`` runs the grant store's contract suite next to the real store
(tests/integration/test_grant_store_contract.py)."""

from tests.fakes.grants import MemoryGrantStore
from tests.fakes.oauth import (
    MemoryAuditLog,
    MemoryClientSource,
    MemoryJtis,
    MemoryRevocations,
    MemoryUsers,
)
from tests.fakes.tokens import MemoryTokenViewSource

__all__ = [
    "MemoryAuditLog",
    "MemoryClientSource",
    "MemoryGrantStore",
    "MemoryJtis",
    "MemoryRevocations",
    "MemoryTokenViewSource",
    "MemoryUsers",
]
