"""Each ``update_id`` claimed once before it is handled, by whichever intake got it.

Telegram delivers an update again when it thinks it was not taken: a webhook answer that
was slow or never came (a crash), and with a load balancer the second delivery may reach
another node; a poller that dies before confirming its offset leaves its updates to the
next poller.  So every intake claims the id first and hands only a first claim to the
dispatcher.  Claiming before handling makes commands at-most-once: an update whose node
died while handling it is not run again, which for a music bot beats playing a request or
skipping a track twice.

Claims live in Redis when the deployment has it (shared by every process, kept a day,
Telegram's own limit for keeping an update), else in this process's memory.  In Redis an
id is one bit: ids grow by one per update, so a block of 65,536 consecutive ids is one
8 KiB bitmap key, and ``SETBIT`` returns the bit's old value, which is the claim.  A day of
a busy bot (ten updates a second) costs about 100 KiB instead of close to a million keys.

When Redis does not answer, nothing is claimed and nothing is handled
(``ClaimUnavailable``): the webhook answers 503, so Telegram delivers the update again
later, and the poller does not confirm it.  Failing closed delays commands during an
outage but never runs one twice; failing open would let two nodes both handle a
redelivered update.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Protocol

from redis.exceptions import RedisError

from bot.cluster.leases import connect

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: how long a claim is remembered (Telegram keeps an undelivered update for a day)
CLAIM_SECONDS = 24 * 3600
#: update ids per Redis bitmap key (8 KiB at most)
BLOCK_IDS = 1 << 16

# KEYS: the block's bitmap; ARGV: the bit, seconds to keep the block.  The old bit: 0 = ours.
CLAIM = """#!lua
local old = redis.call('SETBIT', KEYS[1], ARGV[1], 1)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return old
"""


class ClaimUnavailable(Exception):
    """The shared claims could not be reached: the update must not be handled now."""


class UpdateClaims(Protocol):
    async def first(self, update_id: int) -> bool:
        """True for the first claim of ``update_id``, False for every later one.
        Raises ``ClaimUnavailable`` when it cannot tell."""

    async def close(self) -> None: ...


class MemoryClaims:
    """One process, no Redis: the ids of the last day, at most ``limit`` of them."""

    def __init__(
        self, *, seconds: float = CLAIM_SECONDS, limit: int = 200_000, clock: Any = time.monotonic
    ) -> None:
        self._seen: OrderedDict[int, float] = OrderedDict()
        self._seconds = seconds
        self._limit = limit
        self._clock = clock

    async def first(self, update_id: int) -> bool:
        now = self._clock()
        while self._seen and (
            len(self._seen) >= self._limit or next(iter(self._seen.values())) <= now
        ):
            self._seen.popitem(last=False)
        if update_id in self._seen:
            return False
        self._seen[update_id] = now + self._seconds
        return True

    async def close(self) -> None:
        self._seen.clear()


class RedisClaims:
    """Every process of a deployment: one bit per update id, in blocks that expire a day
    after their last claim.  ``redis`` passed in stays the caller's to close."""

    def __init__(
        self,
        redis: Redis,
        *,
        bot_id: int,
        seconds: int = CLAIM_SECONDS,
        owned: bool = False,
    ) -> None:
        self._redis = redis
        self._prefix = f"sattva:updates:{bot_id}:"
        self._seconds = seconds
        self._owned = owned
        self._claim = redis.register_script(CLAIM)

    @classmethod
    def from_url(cls, url: str, *, bot_id: int, seconds: int = CLAIM_SECONDS) -> RedisClaims:
        return cls(connect(url), bot_id=bot_id, seconds=seconds, owned=True)

    def key(self, update_id: int) -> tuple[str, int]:
        """The bitmap key and the bit of ``update_id``."""
        block, bit = divmod(update_id, BLOCK_IDS)
        return f"{self._prefix}{block}", bit

    async def first(self, update_id: int) -> bool:
        key, bit = self.key(update_id)
        try:
            old = await self._claim(keys=[key], args=[bit, self._seconds])
        except (RedisError, OSError) as exc:
            raise ClaimUnavailable(f"update claims unavailable: {exc.__class__.__name__}") from exc
        return int(old) == 0

    async def claimed(self, update_id: int) -> bool:
        """Whether ``update_id`` was claimed (for checks; claiming uses ``first``)."""
        key, bit = self.key(update_id)
        return bool(await self._redis.getbit(key, bit))

    async def close(self) -> None:
        if self._owned:
            await self._redis.aclose()


def bot_id_of(token: str) -> int:
    """The bot's id, the part of its token before the colon (claims are kept per bot)."""
    return int(token.split(":", 1)[0])


def open_claims(redis_url: str, token: str) -> UpdateClaims:
    """Redis when the deployment has it (shared by every process), else this process's memory."""
    if redis_url:
        return RedisClaims.from_url(redis_url, bot_id=bot_id_of(token))
    return MemoryClaims()
