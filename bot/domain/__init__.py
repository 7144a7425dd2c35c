"""The domain: tracks, queues' semantics, the per-chat player and its events.

Nothing in here imports aiogram or py-tgcalls: they are adapters at the edges.
"""
