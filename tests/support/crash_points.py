"""Crash points: a real queue store that dies (``SimulatedCrash``) before or after one call.

The store underneath is the real one, so "after" means the change is committed and the
process died before doing anything else; "before" means the change never happened.
"""

from __future__ import annotations

from typing import Any

from bot.domain.queue import QueueStore


class SimulatedCrash(BaseException):
    """The process died here (kill -9): nothing after this point runs.

    A BaseException, so the player's ``except Exception`` handlers do not swallow it.
    """


class CrashingStore:
    """Delegates to ``store``; ``crash_before``/``crash_after`` arm one crash per call name."""

    def __init__(self, store: QueueStore) -> None:
        self._store = store
        self._before: set[str] = set()
        self._after: set[str] = set()

    def crash_before(self, method: str) -> None:
        self._before.add(method)

    def crash_after(self, method: str) -> None:
        self._after.add(method)

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._store, name)
        if not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            if name in self._before:
                self._before.discard(name)
                raise SimulatedCrash(f"before {name}")
            result = await target(*args, **kwargs)
            if name in self._after:
                self._after.discard(name)
                raise SimulatedCrash(f"after {name}")
            return result

        return call
