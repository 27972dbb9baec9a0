"""Other spellings of a compact JWT: base64url has one spelling per value (RFC 7515 §2), so a
verifier must refuse each of these even though lenient decoders read the same bytes."""

from __future__ import annotations

import base64
from collections.abc import Callable


def standard_base64_signature(token: str) -> str:
    signed, _, signature = token.rpartition(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return f"{signed}.{base64.b64encode(raw).decode()}"


RESPELLINGS: dict[str, Callable[[str], str]] = {
    "tilde appended": lambda t: t + "~",
    "padding appended": lambda t: t + "==",
    "signature in standard base64": standard_base64_signature,
}


def with_dash_or_underscore(sign: Callable[[int], str]) -> str:
    """The first of ``sign(0)``, ``sign(1)``, ... whose signature has a '-' or '_' (which
    standard base64 spells '+' and '/'), so that respelling it in standard base64 changes it."""
    for n in range(200):
        token = sign(n)
        if any(char in token.rsplit(".", 1)[1] for char in "-_"):
            return token
    raise AssertionError("no signature with '-' or '_' in 200 tokens")
