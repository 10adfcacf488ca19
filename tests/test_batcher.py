"""Micro-batching: concurrent requests share an encoder call only with the same snapshot and route."""

from __future__ import annotations

import asyncio

import pytest

from ddr.server.batcher import MicroBatcher


def _run(coro):
    return asyncio.run(coro)


def test_concurrent_requests_are_encoded_in_one_call_and_get_their_own_rows():
    calls = []

    def encode(snapshot, key, texts):
        calls.append((snapshot, key, list(texts)))
        return [f"{key}:{t}" for t in texts], [len(t) for t in texts]

    async def main():
        batcher = MicroBatcher(encode, max_batch=64, max_wait=0.05)
        batcher.start()
        try:
            return await asyncio.gather(*(batcher.encode("s1", "topk", [f"q{i}", f"r{i}"]) for i in range(5)))
        finally:
            await batcher.stop()

    out = _run(main())
    assert len(calls) == 1 and len(calls[0][2]) == 10
    assert out[3] == (["topk:q3", "topk:r3"], [2, 2])


def test_snapshots_and_routes_never_share_a_call_and_the_batch_is_bounded():
    calls = []

    def encode(snapshot, key, texts):
        calls.append((snapshot, key, len(texts)))
        return list(texts), list(texts)

    async def main():
        batcher = MicroBatcher(encode, max_batch=4, max_wait=0.05)
        batcher.start()
        try:
            jobs = [batcher.encode("old", "topk", ["a"]), batcher.encode("new", "topk", ["b"]), batcher.encode("old", "none", ["c"]),
                    batcher.encode("old", "topk", ["d"])] + [batcher.encode("old", "topk", [f"x{i}"]) for i in range(6)]
            return await asyncio.gather(*jobs)
        finally:
            await batcher.stop()

    out = _run(main())
    assert out[1] == (["b"], ["b"]) and out[2] == (["c"], ["c"])
    assert ("new", "topk", 1) in calls and ("old", "none", 1) in calls
    assert all(n <= 4 for _, _, n in calls)  # bounded: the first batch closes at 4 texts
    assert sum(n for _, _, n in calls) == 10


def test_a_failing_call_fails_its_own_requests_only():
    def encode(snapshot, key, texts):
        if key == "bad":
            raise ValueError("unknown domain 'zzz'")
        return list(texts), list(texts)

    async def main():
        batcher = MicroBatcher(encode, max_batch=64, max_wait=0.05)
        batcher.start()
        try:
            return await asyncio.gather(batcher.encode("s", "bad", ["a"]), batcher.encode("s", "good", ["b"]), return_exceptions=True)
        finally:
            await batcher.stop()

    bad, good = _run(main())
    assert isinstance(bad, ValueError) and good == (["b"], ["b"])


@pytest.mark.parametrize("wait", [0.0, 0.01])
def test_a_lone_request_is_not_held_beyond_the_wait(wait):
    def encode(snapshot, key, texts):
        return list(texts), list(texts)

    async def main():
        batcher = MicroBatcher(encode, max_batch=64, max_wait=wait)
        batcher.start()
        try:
            return await asyncio.wait_for(batcher.encode("s", "k", ["only"]), timeout=5)
        finally:
            await batcher.stop()

    assert _run(main()) == (["only"], ["only"])
