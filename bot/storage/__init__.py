"""Persistence: the queue stores (Redis, database) and the relational database."""
