"""Sattva: a Telegram voice-chat streamer with crash-safe queues."""

__version__ = "0.1.0"
