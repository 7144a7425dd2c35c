"""The Telegram bot adapter (aiogram 3): commands, buttons, announcements, one send path."""
