"""Persistence: SQLAlchemy 2 async on SQLite (embedded default) and PostgreSQL (scale)."""
