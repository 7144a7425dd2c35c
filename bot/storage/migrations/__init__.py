"""Alembic migrations; a package so that the wheel ships them."""
