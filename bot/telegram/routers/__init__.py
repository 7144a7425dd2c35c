"""Command and button handlers, one router per concern."""
