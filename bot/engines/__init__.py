"""Voice engines: what actually plays audio (py-tgcalls in a Telegram call, or local ffmpeg)."""
