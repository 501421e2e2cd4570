"""AccordClient.append_batch and its async twin, against a real `accord serve`."""

from __future__ import annotations

import asyncio

import pytest

from accord.client.client import AsyncAccordClient, batch_entry
from accord.errors import InvalidRequest
from tests.service.conftest import Service, service

__all__ = ["service"]  # the fixture, reused


def test_batch_entry_checks_each_field() -> None:
    assert batch_entry({"contents": "a", "tags": []}) == {"contents": "a"}
    assert batch_entry({"contents": "a", "collectionId": "c", "tags": ["t"]}) == {
        "contents": "a",
        "collectionId": "c",
        "tags": ["t"],
    }
    for bad, message in (
        ("text", "must be a JSON object"),
        ({"contents": b"bytes"}, '"contents", a string'),
        ({"contents": "a", "extra": 1}, "unknown field 'extra'"),
        ({"contents": "a", "collectionId": ""}, "invalid collection id"),
        ({"contents": "a", "tags": "t"}, "must be a list"),
        ({"contents": "\ud800"}, "not valid Unicode"),
    ):
        with pytest.raises(InvalidRequest, match=message):
            batch_entry(bad)


def test_append_batch(service: Service) -> None:
    with service.client() as client:
        assert client.append_batch([]) == []
        txids = client.append_batch(
            [{"contents": "a"}, {"contents": "b", "collectionId": "c2", "tags": ["x"]}]
        )
        assert txids == ["1.1", "1.2"]
        client.wait_for_commit(txids[-1])
        assert client.entry("1.2", "c2")["entry"]["contents"] == "b"
        with pytest.raises(InvalidRequest, match=r"entries\[1\]: unknown field"):
            client.append_batch([{"contents": "ok"}, {"contents": "x", "tag": []}])
        # the service's own refusal names the entry, and nothing of the batch is written
        with pytest.raises(InvalidRequest, match=r"entries\[1\]\.contents"):
            client.append_batch([{"contents": "ok"}, {"contents": "x" * 5000}])
        assert client.append_batch([{"contents": "next"}]) == ["1.3"]


def test_async_append_batch(service: Service) -> None:
    d = service.data

    async def go() -> list[str]:
        async with AsyncAccordClient(
            service.url,
            service_cert=str(d / "service.crt"),
            cert=str(d / "admin.crt"),
            key=str(d / "admin.key"),
        ) as client:
            assert await client.append_batch([]) == []
            return await client.append_batch([{"contents": f"e{i}"} for i in range(1000)])

    txids = asyncio.run(go())
    assert txids[0] == "1.1" and txids[-1] == "1.1000" and len(set(txids)) == 1000
