"""The web sidecar: admin panel, metrics, monitoring WebSocket, health and dashboard.

It runs in the bot's process and event loop and reads the application only through its
services (``web.services.WebServices``), never through the Telegram handlers.
"""
