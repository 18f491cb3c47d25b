"""Alembic environment of alscare's schema.

alscare runs migrations programmatically (``alscare db init``, ``alscare.store.engine.init_db``),
handing over an open connection in ``config.attributes["connection"]``. For a developer's
``alembic`` command line, ``-x url=...`` (or ``sqlalchemy.url``) names the database instead.
"""

from __future__ import annotations

from alembic import context

from alscare.store.tables import metadata

config = context.config


def run_migrations(connection) -> None:
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        run_migrations(connection)
        return
    from alscare.store.engine import make_engine

    url = context.get_x_argument(as_dictionary=True).get("url") or config.get_main_option(
        "sqlalchemy.url")
    engine = make_engine(url)
    with engine.begin() as conn:
        run_migrations(conn)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("alscare migrations run online only (give a database)")
main()
