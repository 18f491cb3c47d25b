"""Storage of canonical records in SQLite or PostgreSQL (SQLAlchemy 2 + Alembic).

``engine``: database URLs, engines, write transactions and migrations; ``tables``: the schema;
``repository``: records in (merged, never silently replaced) and out, cohorts read as frames;
``merge``: the merge rules; ``versions``: record history, deletion and rollback of a run;
``runs``: import runs; ``audit``: the hash-chained audit log; ``rows``: records as rows;
``retry``: retrying a write that lost a race; ``privacy``: private files and folders.
See docs/storage.md.
"""
