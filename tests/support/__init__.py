"""Real-part test helpers: a redis-server process, generated audio, free ports."""
