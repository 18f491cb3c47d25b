"""Which database, how to connect, and bringing its schema up to date.

A database is named by ``--db``, else the environment variable ``ALSCARE_DB``, else the default
SQLite file ``~/.local/share/alscare/alscare.db``. A bare path means a SQLite file;
``postgresql://`` (or ``postgres://``) URLs are served by psycopg 3 (``postgresql+psycopg://``);
any other SQLAlchemy URL is used as given.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

DEFAULT_DB = Path("~/.local/share/alscare/alscare.db")
MIGRATIONS = Path(__file__).with_name("migrations")


class StoreError(ValueError):
    """The database cannot be used as asked (not initialised, out of date, unreachable); a
    ValueError so that the command line refuses it like any other bad input (exit 2)."""


def resolve_url(db: str | os.PathLike | None = None) -> str:
    """The SQLAlchemy URL for ``--db`` / ``ALSCARE_DB`` / the default SQLite file."""
    raw = str(db) if db is not None else os.environ.get("ALSCARE_DB") or str(DEFAULT_DB)
    for prefix in ("postgresql://", "postgres://"):
        if raw.startswith(prefix):
            return "postgresql+psycopg://" + raw.removeprefix(prefix)
    if "://" in raw:
        return raw
    return f"sqlite:///{Path(raw).expanduser().resolve()}"


def _sqlite_transactions(engine: Engine) -> None:
    """Let SQLAlchemy, not pysqlite, begin transactions, so that SAVEPOINTs (one per patient)
    and transactional DDL work; and enforce foreign keys. Recipe: SQLAlchemy's SQLite dialect
    documentation, "Serializable isolation / Savepoints / Transactional DDL"."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:
        conn.exec_driver_sql("BEGIN")


def make_engine(db: str | os.PathLike | Engine | None = None) -> Engine:
    """An engine for a database name (see :func:`resolve_url`); an Engine is returned as is."""
    if isinstance(db, Engine):
        return db
    try:
        url = make_url(resolve_url(db))
    except ArgumentError:
        raise StoreError(f"{db!r} is neither a file path nor a database URL") from None
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            try:
                Path(url.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"cannot create the folder of {url.database}: "
                                 f"{e.strerror or e}") from None
        engine = create_engine(url)
        _sqlite_transactions(engine)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError) as e:  # NoSuchModuleError is an ArgumentError
        raise StoreError(f"cannot use database {url.render_as_string(hide_password=True)}: "
                         f"{e}") from None


def display_url(engine: Engine) -> str:
    """The URL with its password hidden, for messages."""
    return engine.url.render_as_string(hide_password=True)


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "alscare ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def init_db(db: str | os.PathLike | Engine | None = None) -> Engine:
    """Create or upgrade the schema to the newest migration (``alembic upgrade head``);
    safe to run on an up-to-date database."""
    engine = make_engine(db)
    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return engine


def require_schema(engine: Engine) -> None:
    """Refuse a database that has not been initialised or needs a migration."""
    try:
        current = current_revision(engine)
    except Exception as e:  # unreachable server, bad URL, missing file permissions
        raise StoreError(f"cannot open database {display_url(engine)}: {e}") from None
    head = head_revision()
    if current is None:
        raise StoreError(f"database {display_url(engine)} holds no alscare tables; run "
                         "`alscare db init --db URL` (or `alscare import`) first")
    if current != head:
        raise StoreError(f"database {display_url(engine)} is at schema revision {current}, "
                         f"this alscare needs {head}; run `alscare db init --db URL` to upgrade")


@contextmanager
def temporary_database(server: str, prefix: str = "alscare_tmp") -> Iterator[str]:
    """A new, empty UTF-8 database on a PostgreSQL server (the role needs CREATEDB), dropped
    when the block ends; yields its URL. For tests and benchmarks. UTF-8 with C collation
    whatever the cluster's default (a cluster created under LANG=C would be SQL_ASCII)."""
    url = make_url(resolve_url(server))
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}" ENCODING \'UTF8\' '
                          "LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            drop_database(admin, name)
        finally:
            admin.dispose()


def drop_database(admin: Engine, name: str, attempts: int = 10) -> None:
    """DROP DATABASE after ending this role's own sessions on it (a leaked pooled connection).
    Not WITH (FORCE): that must be allowed to terminate every other session, including the
    superuser's autovacuum worker, which a role without pg_signal_backend is not (seen in CI as
    InsufficientPrivilege); a plain DROP stops an autovacuum worker by itself."""
    last: Exception | None = None
    for _ in range(attempts):
        try:
            with admin.connect() as conn:
                conn.execute(text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name AND usename = current_user "
                    "AND pid <> pg_backend_pid()"), {"name": name})
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
            return
        except DBAPIError as e:  # "is being accessed by other users"
            last = e
            time.sleep(0.2)
    assert last is not None
    raise last
