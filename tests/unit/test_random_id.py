"""Ids and secrets made by ``random_id``: base62, the asked length, every character in use."""

from __future__ import annotations

import string
from collections import Counter

from authward.identity.orgs import random_id

BASE62 = set(string.digits + string.ascii_letters)


def test_prefix_then_the_asked_number_of_base62_characters() -> None:
    for chars in (1, 22, 43, 200):
        made = random_id("sess_", chars)
        assert made.startswith("sess_")
        assert len(made) == len("sess_") + chars
        assert set(made.removeprefix("sess_")) <= BASE62


def test_ids_differ_and_use_the_whole_alphabet_evenly() -> None:
    made = [random_id("", 43) for _ in range(5_000)]
    assert len(set(made)) == len(made)
    counts = Counter("".join(made))
    # 215,000 characters: about 3,468 of each; a character left out or twice as common as
    # another would show a skewed mapping from random bytes.
    assert set(counts) == BASE62
    assert max(counts.values()) < 1.2 * min(counts.values())
