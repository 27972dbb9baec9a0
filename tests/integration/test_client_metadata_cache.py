"""How client ID metadata documents are kept (decision 048), against the real HTTPS test server:
for their Cache-Control max-age within our bounds, not at all under no-store, a failure only a
few seconds; one fetch for many waiters; a stalled server ends at the time limit. The clock is
stepped, never waited for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from authward.oauth.client_metadata import (
    FAILURE_CACHE_SECONDS,
    MAX_CACHE_SECONDS,
    MIN_CACHE_SECONDS,
    MetadataDocuments,
)
from authward.oauth.errors import InvalidClient
from authward.oauth.public_fetch import PublicFetcher
from tests.https_documents import Answer, DocumentServer

PATH = "/client.json"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[DocumentServer]:
    async with DocumentServer(tmp_path) as documents:
        yield documents


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def documents(server: DocumentServer, clock: Clock) -> AsyncIterator[MetadataDocuments]:
    fetcher = PublicFetcher(allow_loopback=True, ca_bundle=server.ca_bundle, timeout=0.5)
    docs = MetadataDocuments(fetcher, clock=clock)
    yield docs
    await docs.close()


def serve(server: DocumentServer, name: str, cache_control: str | None) -> str:
    url = server.url(PATH)
    document = {"client_id": url, "client_name": name, "redirect_uris": ["https://a.example/cb"]}
    server.json(PATH, document, cache_control=cache_control)
    return url


async def test_a_document_is_kept_for_its_max_age(
    server: DocumentServer, documents: MetadataDocuments, clock: Clock
) -> None:
    url = serve(server, "first", "max-age=600")
    assert await documents.metadata(url) is not None
    serve(server, "second", "max-age=600")
    clock.now += 599
    found = await documents.metadata(url)
    assert found is not None
    assert found.name == "first"
    clock.now += 2
    found = await documents.metadata(url)
    assert found is not None
    assert found.name == "second"
    assert server.requests[PATH] == 2


@pytest.mark.parametrize(
    ("cache_control", "kept"),
    [("max-age=1", MIN_CACHE_SECONDS), ("max-age=99999999", MAX_CACHE_SECONDS)],
)
async def test_max_age_is_bounded(
    server: DocumentServer,
    documents: MetadataDocuments,
    clock: Clock,
    cache_control: str,
    kept: float,
) -> None:
    url = serve(server, "doc", cache_control)
    await documents.metadata(url)
    clock.now += kept - 1
    await documents.metadata(url)
    assert server.requests[PATH] == 1
    clock.now += 2
    await documents.metadata(url)
    assert server.requests[PATH] == 2


@pytest.mark.parametrize("cache_control", ["no-store", "max-age=600, no-cache"])
async def test_no_store_means_fetched_on_every_use(
    server: DocumentServer, documents: MetadataDocuments, cache_control: str
) -> None:
    url = serve(server, "doc", cache_control)
    for _ in range(3):
        await documents.metadata(url)
    assert server.requests[PATH] == 3


async def test_a_failure_is_remembered_only_briefly(
    server: DocumentServer, documents: MetadataDocuments, clock: Clock
) -> None:
    url = server.url(PATH)
    with pytest.raises(InvalidClient, match="HTTP 404"):
        await documents.metadata(url)
    serve(server, "fixed", "max-age=600")
    clock.now += FAILURE_CACHE_SECONDS - 1
    with pytest.raises(InvalidClient, match="HTTP 404"):
        await documents.metadata(url)
    assert server.requests[PATH] == 1
    clock.now += 2
    found = await documents.metadata(url)
    assert found is not None
    assert found.name == "fixed"


async def test_waiters_share_one_fetch(
    server: DocumentServer, documents: MetadataDocuments
) -> None:
    url = serve(server, "doc", "max-age=600")
    found = await asyncio.gather(*(documents.metadata(url) for _ in range(5)))
    assert {f.name for f in found if f is not None} == {"doc"}
    assert server.requests[PATH] == 1


async def test_a_server_that_never_answers_is_given_up_on(
    server: DocumentServer, documents: MetadataDocuments
) -> None:
    server.answers[PATH] = Answer(stall=True)
    with pytest.raises(InvalidClient, match=r"did not answer within 0\.5 seconds"):
        await documents.metadata(server.url(PATH))


async def test_a_certificate_from_an_unknown_authority_is_refused(
    server: DocumentServer,
) -> None:
    url = serve(server, "doc", None)
    docs = MetadataDocuments(PublicFetcher(allow_loopback=True))  # certifi's CAs only
    with pytest.raises(InvalidClient, match="could not be fetched over https"):
        await docs.metadata(url)
