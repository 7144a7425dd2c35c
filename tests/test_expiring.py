"""The bounded expiring map the bot keeps copies in (settings, chats' accounts)."""

from __future__ import annotations

from bot.expiring import ExpiringCache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_for_its_ttl() -> None:
    clock = Clock()
    cache: ExpiringCache[str, int] = ExpiringCache(5, clock=clock)
    cache.store("a", 1, read_at_generation=cache.generation)
    clock.now += 4.9
    assert cache.get("a") == 1
    clock.now += 0.1
    assert cache.get("a") is None
    assert len(cache) == 0  # an expired entry read is dropped


def test_the_least_recently_read_go_first_past_the_bound() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(60, max_entries=2)
    for key, value in (("a", 1), ("b", 2)):
        cache.store(key, value, read_at_generation=cache.generation)
    assert cache.get("a") == 1  # read: "b" is now the oldest
    cache.store("c", 3, read_at_generation=cache.generation)
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == (1, None, 3)


def test_a_read_that_raced_a_forget_is_not_stored() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(60)
    began = cache.generation
    cache.forget("a")  # a write landed while the read was in flight
    cache.store("a", 1, read_at_generation=began)
    assert cache.get("a") is None


def test_a_zero_ttl_keeps_nothing() -> None:
    cache: ExpiringCache[str, int] = ExpiringCache(0)
    assert not cache.enabled
    cache.store("a", 1, read_at_generation=cache.generation)
    assert cache.get("a") is None
