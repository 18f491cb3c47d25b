"""Storage of canonical records in SQLite or PostgreSQL (SQLAlchemy 2 + Alembic).

``engine``: database URLs, engines and migrations; ``tables``: the schema;
``repository``: records in and out, and cohorts read as frames.
"""
