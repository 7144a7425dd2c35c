"""Interactive creation of the assistant account's session string (needs a person)."""

from __future__ import annotations


async def create_session_string(api_id: int, api_hash: str) -> str:
    # Imported here: kurigram is only needed by this command and the pytgcalls engine.
    from pyrogram import Client

    client = Client("sattva-assistant", api_id=api_id, api_hash=api_hash, in_memory=True)
    async with client:
        session: str = await client.export_session_string()
    return session
