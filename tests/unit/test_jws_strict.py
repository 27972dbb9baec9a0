"""Strict compact JWS parsing: one spelling per token, as joserfc's strict decoding has it.

The hand-written verifier (``tokens/jws_verify.py``) is checked against joserfc on mutations of
valid tokens, signed with our keys' algorithms (EdDSA, ES256, RS256) and the others we accept
from external issuers and DPoP proofs.
"""

from __future__ import annotations

import base64
import functools
import json
import string
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jws, jwt
from joserfc.jwk import ECKey, OKPKey, RSAKey
from joserfc.util import urlsafe_b64decode as joserfc_b64decode

from authward.errors import TokenError
from authward.tokens.jws_verify import (
    VerifyKey,
    b64url_decode,
    compact_segments,
    verify_key_from_jwk,
    verify_signed,
)

ALPHABET = string.ascii_letters + string.digits + "-_"
#: What the reported tokens had appended or substituted, and what else a lenient decoder skips.
SPECIAL = "~=.+/ \n\t"
CLAIMS = {
    "iss": "https://issuer.example",
    "sub": "0f1c2d3e-4a5b-6c7d-8e9f-0123456789ab",
    "aud": "https://issuer.example",
    "exp": 2_000_000_000,
    "iat": 1_700_000_000,
    "jti": "p2VwZbQ4dC1dYg",
    "attribute_map": {"role": "ADMIN"},
}


@dataclass
class Case:
    alg: str
    kid: str
    key: OKPKey | ECKey | RSAKey
    token: str

    @functools.cached_property
    def keys(self) -> dict[str, VerifyKey]:
        jwk = {**self.key.as_dict(private=False), "kid": self.kid}
        return {self.kid: verify_key_from_jwk(jwk, self.alg)}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@functools.cache
def _rsa() -> RSAKey:
    return RSAKey.generate_key(2048)


def _key(alg: str) -> OKPKey | ECKey | RSAKey:
    if alg in ("EdDSA", "Ed25519"):
        return OKPKey.generate_key("Ed25519")
    if alg.startswith("ES"):
        return ECKey.generate_key({"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}[alg])
    return _rsa()


#: Ours first (access and session tokens EdDSA or ES256, ID tokens also RS256), then the rest of
#: what external issuers' keys and DPoP proofs may use.
ALGS = ("EdDSA", "ES256", "RS256", "Ed25519", "ES384", "ES512", "PS256", "RS384", "PS512")


@functools.cache
def case(alg: str) -> Case:
    key = _key(alg)
    kid = f"kid-{alg}"
    header = {"alg": alg, "kid": kid, "typ": "at+jwt"}
    token = jws.serialize_compact(header, json.dumps(CLAIMS).encode(), key, algorithms=[alg])
    return Case(alg, kid, key, token)


def ours(token: str, c: Case) -> bool:
    try:
        verify_signed(token, c.keys)
    except TokenError:
        return False
    return True


def joserfc_accepts(token: str, c: Case) -> bool:
    """joserfc's strict decoding and signature check, with the verifier's own header policy
    (the key named by ``kid``; no ``crit`` extension understood), which is not under test."""
    registry = jws.JWSRegistry(algorithms=[c.alg], strict_check_header=False)
    try:
        decoded = jwt.decode(token, c.key, algorithms=[c.alg], registry=registry)
    except Exception:  # joserfc refuses some junk with plain Python errors, not JoseError
        return False
    return decoded.header.get("kid") == c.kid and "crit" not in decoded.header


def sign_raw(c: Case, signing_input: str) -> str:
    """``signing_input`` signed as it is (whatever its encoding): a token a key holder made."""
    alg = jws.JWSRegistry.algorithms[c.alg]
    return b64(alg.sign(signing_input.encode("utf-8", "surrogatepass"), c.key))


# -- the three reported tokens -----------------------------------------------------------------


def standard_signature(token: str) -> str:
    """The token with its signature in standard base64 (``+/``) and padded."""
    head, payload, signature = token.split(".")
    raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    return f"{head}.{payload}.{base64.b64encode(raw).decode()}"


def with_plus_or_slash(alg: str) -> Case:
    """A token of ``alg`` whose signature has a ``-`` or ``_`` (so standard base64 differs)."""
    for n in range(200):
        key = case(alg).key
        claims = {**CLAIMS, "jti": f"jti-{n}"}
        header = {"alg": alg, "kid": f"kid-{alg}", "typ": "at+jwt"}
        token = jws.serialize_compact(header, json.dumps(claims).encode(), key, algorithms=[alg])
        if any(char in token.rsplit(".", 1)[1] for char in "-_"):
            return Case(alg, f"kid-{alg}", key, token)
    raise AssertionError("no signature with '-' in 200 tries")


REPORTED = {
    "tilde appended": lambda t: t + "~",
    "padding appended": lambda t: t + "==",
    "signature in standard base64": standard_signature,
}


@pytest.mark.parametrize("alg", ["EdDSA", "ES256", "RS256"])
@pytest.mark.parametrize("mutation", REPORTED.values(), ids=REPORTED.keys())
def test_the_reported_spellings_are_refused(alg: str, mutation: Any) -> None:
    c = with_plus_or_slash(alg)
    assert ours(c.token, c)
    mutated = mutation(c.token)
    assert mutated != c.token
    with pytest.raises(TokenError) as refused:
        verify_signed(mutated, c.keys)
    assert refused.value.reason == "token-invalid"
    assert not joserfc_accepts(mutated, c)


@pytest.mark.parametrize(
    ("token", "message"),
    [
        ("abc", "not a signed JWT"),
        ("a.b.c.d", "not a signed JWT"),
        ("eyJ.e30.~", "token is malformed (not canonical base64url)"),
        ("eyJhbGciOiJFUzI1NiJ9.e30.AB", "token is malformed (not canonical base64url)"),
        ("eyJhbGciOiJFUzI1NiJ9.e31.AA", "token is malformed (not canonical base64url)"),
        ("eyJhbGciOiJFUzI1NiJ9.e30.A", "token is malformed (not canonical base64url)"),
        ("eyJhbGciOiJFUzI1NiJ9.e30.AA\n", "token is malformed (not canonical base64url)"),
        ("éyJ.e30.AA", "token is malformed (not canonical base64url)"),
    ],
)
def test_segments_must_be_canonical(token: str, message: str) -> None:
    with pytest.raises(TokenError) as refused:
        compact_segments(token)
    assert str(refused.value) == message


def test_a_header_that_is_not_an_object_is_refused() -> None:
    c = case("ES256")
    signing_input = f"{b64(b'[1]')}.{c.token.split('.')[1]}"
    with pytest.raises(TokenError, match="token header is not a JSON object"):
        verify_signed(f"{signing_input}.{sign_raw(c, signing_input)}", c.keys)


# -- mutations -----------------------------------------------------------------------------------

Op = tuple[Any, ...]
_index = st.integers(min_value=0, max_value=1_000)
_text = st.text(alphabet=SPECIAL + ALPHABET, min_size=1, max_size=4)
#: Any code point but surrogates (a str with one cannot be sent as a header anyway).
_char = st.characters(blacklist_categories=("Cs",))
OPS = st.one_of(
    st.tuples(st.just("append"), _text),
    st.tuples(st.just("prepend"), _text),
    st.tuples(st.just("insert"), _index, st.one_of(_text, _char)),
    st.tuples(st.just("replace"), _index, st.one_of(st.sampled_from(SPECIAL + ALPHABET), _char)),
    st.tuples(st.just("delete"), _index),
    st.tuples(st.just("pad"), _index, st.integers(min_value=1, max_value=3)),
    st.tuples(st.just("standard"), _index),
    st.tuples(st.just("trailing"), _index, st.integers(min_value=1, max_value=15)),
    st.tuples(st.just("drop"), _index),
    st.tuples(st.just("duplicate"), _index),
)


#: The base64url alphabet in the order of the values its characters stand for.
B64_ORDER = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def _trailing_bits(segment: str, bits: int) -> str:
    # Sets unused low bits of the last character: the same bytes to a lenient decoder.
    unused = {2: 0xF, 3: 0x3}.get(len(segment) % 4)
    if unused is None or segment[-1] not in B64_ORDER:
        return segment
    return segment[:-1] + B64_ORDER[B64_ORDER.index(segment[-1]) | (bits & unused)]


def mutate(token: str, ops: Sequence[Op]) -> str:
    for op in ops:
        name, *args = op
        at = args[0] % (len(token) + 1) if args and isinstance(args[0], int) else 0
        parts = token.split(".")
        i = args[0] % len(parts) if args and isinstance(args[0], int) else 0
        if name == "append":
            token += args[0]
        elif name == "prepend":
            token = args[0] + token
        elif name == "insert":
            token = token[:at] + args[1] + token[at:]
        elif name == "replace":
            token = token[:at] + args[1] + token[at + 1 :]
        elif name == "delete":
            token = token[:at] + token[at + 1 :]
        elif name == "pad":
            parts[i] += "=" * args[1]
        elif name == "standard":
            parts[i] = parts[i].translate(str.maketrans("-_", "+/"))
            parts[i] += "=" * (-len(parts[i]) % 4)
        elif name == "trailing":
            parts[i] = _trailing_bits(parts[i], args[1])
        elif name == "drop":
            del parts[i]
        elif name == "duplicate":
            parts.insert(i, parts[i])
        if name in ("pad", "standard", "trailing", "drop", "duplicate"):
            token = ".".join(parts)
    return token


def is_canonical(segment: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except ValueError:
        return False
    return b64(raw) == segment


_settings = settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@_settings
@given(alg=st.sampled_from(ALGS), ops=st.lists(OPS, min_size=1, max_size=3))
def test_a_mutated_token_is_accepted_only_when_unchanged(alg: str, ops: list[Op]) -> None:
    c = case(alg)
    mutated = mutate(c.token, ops)
    accepted = ours(mutated, c)
    assert accepted == joserfc_accepts(mutated, c)
    assert accepted == (mutated == c.token)


@_settings
@given(alg=st.sampled_from(ALGS), ops=st.lists(OPS, min_size=1, max_size=3))
def test_a_mutation_signed_by_the_key_holder_is_judged_as_joserfc_does(
    alg: str, ops: list[Op]
) -> None:
    """Header and payload mutated, then signed for real: what decides is the encoding alone."""
    c = case(alg)
    head, payload, _ = c.token.split(".")
    signing_input = mutate(f"{head}.{payload}", ops)
    token = f"{signing_input}.{sign_raw(c, signing_input)}"
    accepted = ours(token, c)
    assert accepted == joserfc_accepts(token, c)
    if accepted:
        assert all(is_canonical(segment) for segment in token.split("."))


@settings(max_examples=1_000, deadline=None, database=None)
@given(st.one_of(st.text(alphabet=SPECIAL + ALPHABET, max_size=12), st.text(max_size=6)))
def test_base64url_decoding_is_joserfcs(text: str) -> None:
    """What DPoP proofs, nonces, external RSA keys and ID tokens decode with."""
    try:
        expected: bytes | None = joserfc_b64decode(text.encode("ascii"))
    except (ValueError, UnicodeError):
        expected = None
    try:
        got: bytes | None = b64url_decode(text)
    except ValueError:
        got = None
    assert got == expected
