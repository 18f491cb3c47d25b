"""Which database, how to connect, and bringing its schema up to date.

A database is named by ``--db``, else the environment variable ``ALSCARE_DB``, else the default
SQLite file ``~/.local/share/alscare/alscare.db``. A bare path means a SQLite file;
``postgresql://`` (or ``postgres://``) URLs are served by psycopg 3 (``postgresql+psycopg://``);
any other SQLAlchemy URL is used as given.

Concurrent writers (several importers, a web server) share a database safely:

- SQLite runs in WAL mode (readers never block the writer, nor the writer the readers) with a
  busy timeout, and every write transaction begins ``BEGIN IMMEDIATE`` (:func:`writing`), so a
  writer takes the write lock before it reads what it will change and never has to upgrade a
  read lock (which fails at once with "database is locked" whatever the timeout);
- PostgreSQL runs at READ COMMITTED; the repository locks the rows it changes;
- a transaction that still loses (lock time-out, deadlock) is retried whole with backoff
  (``alscare.store.retry``);
- schema migrations are serialised: PostgreSQL ``pg_advisory_xact_lock`` around the Alembic
  upgrade, SQLite its write lock, so two processes creating a fresh database both succeed.

A SQLite file and the folders alscare creates for it are private (``alscare.store.privacy``).
"""

from __future__ import annotations

import os
import time
import uuid
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from alscare.store.privacy import private_file, private_folder
from alscare.store.retry import retrying

DEFAULT_DB = Path("~/.local/share/alscare/alscare.db")
MIGRATIONS = Path(__file__).with_name("migrations")
# How long a SQLite writer waits for the write lock before the transaction is retried.
SQLITE_BUSY_TIMEOUT_S = 30.0
# pg_advisory_xact_lock key serialising alscare's schema migrations on one database.
MIGRATION_LOCK_KEY = 0x616C_7363_6D69_6772  # "alscmigr"
WRITE_OPTION = "alscare_write"
# A database as the store's functions take it: a path, a URL, an Engine, or None (the default).
Target = str | os.PathLike | Engine | None


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


def _sqlite_transactions(engine: Engine, file_backed: bool) -> None:
    """Let SQLAlchemy, not pysqlite, begin transactions, so that SAVEPOINTs (one per patient)
    and transactional DDL work; enforce foreign keys; WAL journal for a file. Write
    transactions (:func:`writing`) begin IMMEDIATE. Recipe: SQLAlchemy's SQLite dialect
    documentation, "Serializable isolation / Savepoints / Transactional DDL"."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        if file_backed:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _sqlite_file(database: str) -> Path:
    path = Path(database)
    if path.is_dir():
        raise StoreError(f"cannot use database {path}: it is a folder, not a SQLite file")
    try:
        private_folder(path.parent)
        private_file(path)
    except OSError as e:
        what = "the folder of " if not path.parent.is_dir() else ""
        raise StoreError(f"cannot create {what}{path}: {e.strerror or e}") from None
    return path


def make_engine(db: str | os.PathLike | Engine | None = None) -> Engine:
    """An engine for a database name (see :func:`resolve_url`); an Engine is returned as is.
    A SQLite file is created empty and private if it does not exist."""
    if isinstance(db, Engine):
        return db
    try:
        url = make_url(resolve_url(db))
    except ArgumentError:
        raise StoreError(f"{db!r} is neither a file path nor a database URL") from None
    if url.get_backend_name() == "sqlite":
        file_backed = bool(url.database) and url.database != ":memory:"
        if file_backed:
            _sqlite_file(url.database)
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})
        _sqlite_transactions(engine, file_backed)
        return engine
    try:
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError) as e:  # NoSuchModuleError is an ArgumentError
        raise StoreError(f"cannot use database {url.render_as_string(hide_password=True)}: "
                         f"{e}") from None


def display_url(engine: Engine) -> str:
    """The URL with its password hidden, for messages."""
    return engine.url.render_as_string(hide_password=True)


def reason(e: BaseException) -> str:
    """The first line of a database error's own message (no SQL, no parameters)."""
    text_ = str(getattr(e, "orig", None) or e).strip()
    return text_.splitlines()[0] if text_ else type(e).__name__


def unusable(engine: Engine, e: BaseException) -> StoreError:
    """A StoreError naming the database (password hidden) and why it cannot be used."""
    why = reason(e)
    if "file is not a database" in why:
        why = "the file is not a SQLite database"
    return StoreError(f"cannot open database {display_url(engine)}: {why}")


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction: on SQLite ``BEGIN IMMEDIATE`` (the write lock first, waiting up
    to the busy timeout), elsewhere a plain transaction. Commits on success."""
    with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
        yield conn


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration shipped (read from the migration scripts once per process)."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None, "alscare ships at least one migration"
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _upgrade(engine: Engine, revision: str) -> None:
    cfg = _config()
    with writing(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                         {"key": MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def upgrade_to(engine: Engine, revision: str) -> None:
    """Alembic ``upgrade`` to ``revision`` in one transaction, serialised against any other
    process migrating the same database (see the module's docstring)."""
    retrying(lambda: _upgrade(engine, revision))


def init_db(db: str | os.PathLike | Engine | None = None) -> Engine:
    """Create or upgrade the schema to the newest migration (``alembic upgrade head``);
    safe to run on an up-to-date database and from several processes at once."""
    engine = make_engine(db)
    try:
        if current_revision(engine) != head_revision():
            upgrade_to(engine, "head")
    except DBAPIError as e:
        raise unusable(engine, e) from None
    return engine


def require_schema(engine: Engine) -> None:
    """Refuse a database that has not been initialised or needs a migration."""
    try:
        current = current_revision(engine)
    except Exception as e:  # unreachable server, bad URL, missing file permissions
        raise unusable(engine, e) from None
    head = head_revision()
    if current is None:
        raise StoreError(f"database {display_url(engine)} holds no alscare tables; run "
                         "`alscare db init --db URL` (or `alscare import`) first")
    if current != head:
        raise StoreError(f"database {display_url(engine)} is at schema revision {current}, "
                         f"this alscare needs {head}; run `alscare db init --db URL` to upgrade")


# Engines whose database was found at the head revision: a long-running caller (the web
# app) passes its engine to every store function, which then need not ask again.
_CURRENT: weakref.WeakSet[Engine] = weakref.WeakSet()


def open_store(db: str | os.PathLike | Engine | None = None) -> Engine:
    """An engine on an initialised, up-to-date database (else :class:`StoreError`); an
    Engine already found up to date is returned without asking the database again."""
    engine = make_engine(db)
    if engine in _CURRENT:
        return engine
    require_schema(engine)
    _CURRENT.add(engine)
    return engine


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
