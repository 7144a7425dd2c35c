"""The dashboard's cluster view, read from real leases and node heartbeats on a real
redis-server (written by ``bot.cluster.leases``, as the nodes write them)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.cluster.leases import POLLER_LEASE, LeaseKeeper, Leases, Nodes
from bot.cluster.view import ClusterView, assistant_of_lease


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


ASSIGNED = {-1001: "a1", -1002: "a1", -1003: "a2", -1004: "a3"}


async def assignments(chat_ids: Sequence[int]) -> dict[int, str]:
    return {c: ASSIGNED[c] for c in chat_ids if c in ASSIGNED}


async def chats_with_state() -> list[int]:
    return [-1004, -1001, -1002, -1003, -1005]


def view_of(redis: Redis, node: str, names: list[str]) -> ClusterView:
    """What ``node``'s dashboard reads, over the test's assignments and chats."""
    return ClusterView(
        node=node,
        assistants=names,
        assignments=assignments,
        chats_with_state=chats_with_state,
        redis=redis,
    )


async def nothing(lease: object) -> None:
    return None


def keeper(
    redis: Redis, node: str, names: list[str], clock: Callable[[], float] = time.time
) -> LeaseKeeper:
    return LeaseKeeper(
        leases=Leases(redis, node, ttl=30, clock=clock),
        nodes=Nodes(redis, node, ttl=30, clock=time.time),
        names=names,
        on_gained=nothing,
        on_lost=nothing,
    )


async def test_nodes_hold_the_assistants_whose_leases_they_have(redis: Redis) -> None:
    names = ["a1", "a2", "a3"]
    first, second = keeper(redis, "node-1", names), keeper(redis, "node-2", names)
    await first.round()  # alone: takes all three
    await second.round()  # sees two nodes, takes none (all held)
    await first.round()  # gives back above its share of two
    await second.round()  # takes the freed one
    held = dict.fromkeys(first.held, "node-1") | dict.fromkeys(second.held, "node-2")
    assert sorted(held) == names
    view = view_of(redis, "node-2", names)
    state = await view.state()
    assert state["mode"] == "cluster"
    nodes = {n["node"]: n for n in state["nodes"]}
    assert sorted(nodes) == ["node-1", "node-2"]
    assert nodes["node-2"]["this"]
    assert not nodes["node-1"]["this"]
    assert all(25 < n["expires_in"] <= 30 for n in nodes.values())
    for node, info in nodes.items():
        assert info["assistants"] == sorted(a for a, holder in held.items() if holder == node)
        assert info["chats"] == sum(
            1 for c in await chats_with_state() if held.get(ASSIGNED.get(c, "")) == node
        )
    by_name = {a["name"]: a for a in state["assistants"]}
    assert by_name["a1"]["chats"] == [-1002, -1001]
    assert by_name["a3"]["chats"] == [-1004]
    for name, holder in held.items():
        assert by_name[name]["node"] == holder
        token = (first.held | second.held)[name].token
        assert by_name[name]["token"] == token
        assert 25 < by_name[name]["lease_expires_in"] <= 30
    assert state["unassigned_chats"] == [-1005]
    assert state["chats_total"] == 5

    # node-1 stops gracefully: its assistants show as free until node-2 takes them
    await first.close()
    state = await view.state()
    assert [n["node"] for n in state["nodes"]] == ["node-2"]
    free = [a["name"] for a in state["assistants"] if a["node"] is None]
    assert sorted(free) == sorted(name for name, holder in held.items() if holder == "node-1")
    await second.round()
    state = await view.state()
    assert state["nodes"][0]["assistants"] == names
    await second.close()


async def test_a_leases_age_counts_from_its_holder_taking_it_not_from_renewals(
    redis: Redis,
) -> None:
    names = ["a1", "a2"]
    start = time.time()
    # node-1 took both leases ten minutes ago (its clock says so) and has renewed since
    first = keeper(redis, "node-1", names, clock=lambda: start - 600)
    await first.round()
    await first.round()
    view = view_of(redis, "node-1", names)

    def ages(state: dict[str, Any]) -> dict[str, float]:
        # (a3 shows too, held by nobody: chats still name it)
        return {a["name"]: a["lease_held_for"] for a in state["assistants"] if a["name"] in names}

    assert all(600 <= age < 610 for age in ages(await view.state()).values())
    # node-2 joins: node-1 gives one back and node-2 takes it, its age starting again
    second = keeper(redis, "node-2", names)
    await second.round()
    await first.round()
    await second.round()
    (moved,) = second.held
    held = ages(await view.state())
    assert 0 <= held[moved] < 10
    (kept,) = first.held
    assert 600 <= held[kept] < 610
    await first.close()
    await second.close()


async def test_the_poller_lease_marks_its_node_and_is_not_an_assistant(redis: Redis) -> None:
    names = ["a1"]
    first, second = keeper(redis, "node-1", names), keeper(redis, "node-2", names)
    await first.round()
    await second.round()
    assert await Leases(redis, "node-2", ttl=30).acquire(POLLER_LEASE) is not None
    view = view_of(redis, "node-1", names)
    state = await view.state()
    assert {n["node"]: n["poller"] for n in state["nodes"]} == {"node-1": False, "node-2": True}
    assert POLLER_LEASE not in {a["name"] for a in state["assistants"]}
    await first.close()
    await second.close()
    await redis.delete(Leases.key(POLLER_LEASE))


async def test_one_process_holds_every_assistant_without_leases() -> None:
    view = ClusterView(
        node="solo",
        assistants=["a1", "a2"],
        assignments=assignments,
        chats_with_state=chats_with_state,
    )
    state = await view.state()
    assert state["mode"] == "single"
    assert state["nodes"] == [
        {
            "node": "solo",
            "expires_in": None,
            "this": True,
            "assistants": ["a1", "a2"],
            "chats": 4,
            "poller": None,
        }
    ]
    # a3 is not configured here any more, but chats still name it: it shows, held by nobody
    a3 = next(a for a in state["assistants"] if a["name"] == "a3")
    assert (a3["node"], a3["chats"]) == (None, [-1004])


def test_lease_names_map_to_assistants() -> None:
    assert assistant_of_lease("a1", ["a1"]) == "a1"
    assert assistant_of_lease("assistant:a1", ["a1"]) == "a1"
    assert assistant_of_lease("polling", ["a1"]) is None
