"""``alscare serve``: the clinic's web app (FastAPI under uvicorn).

``--demo`` runs on a database of its own (``alscare-demo/demo.db``; never the clinic's
default database) seeded with the synthetic demo cohort, with demo accounts whose password
is printed. Production: PostgreSQL (``--db postgresql://...``), several workers, TLS in
front (a reverse proxy that sets X-Forwarded-Proto; ``--forwarded-allow-ips`` names it).

The access log never shows patient ids or search terms: paths under ``/patients/`` and every
query string are redacted.
"""

from __future__ import annotations

import logging
import re
import secrets
from pathlib import Path
from typing import Annotated

import typer

DEMO_DIR = Path("alscare-demo")
DEMO_USERS = (("demo", "clinician", None, "Demo Clinician"),
              ("dietitian", "allied_health", "dietetics", "Demo Dietitian"),
              ("researcher", "researcher", None, "Demo Researcher"),
              ("admin", "admin", None, "Demo Admin"))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


class RedactPatients(logging.Filter):
    """Access-log lines without patient ids or query strings."""

    PATIENT = re.compile(r"(/patients/)[^/?\s]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) >= 3:
            args = list(record.args)
            path = str(args[2]).split("?", 1)[0]
            args[2] = self.PATIENT.sub(r"\1…", path)
            record.args = tuple(args)
        return True


def serve(
    demo: Annotated[bool, typer.Option("--demo", help="Run on the demo's own database with "
                                       "the synthetic demo cohort and demo accounts.")] = False,
    db: Annotated[str | None, typer.Option("--db", help="SQLite path or postgresql:// URL "
                                           "(default $ALSCARE_DB, else the clinic's default "
                                           "SQLite file; with --demo: alscare-demo/demo.db).")
                  ] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes "
                                         "(production: several, on PostgreSQL).")] = 1,
    protocol: Annotated[Path | None, typer.Option("--protocol", envvar="ALSCARE_PROTOCOL",
                                                  help="Clinic protocol YAML.")] = None,
    model: Annotated[Path | None, typer.Option("--model", envvar="ALSCARE_MODEL",
                                               help="Progression model file.")] = None,
    secure_cookies: Annotated[bool | None, typer.Option(
        "--secure-cookies/--insecure-cookies",
        help="Force Secure session cookies on or off (default: Secure when the request came "
        "over HTTPS, as a TLS proxy reports it).")] = None,
    forwarded_allow_ips: Annotated[str, typer.Option(
        "--forwarded-allow-ips", help="Proxies trusted for X-Forwarded-For/-Proto (the TLS "
        "proxy in front).")] = "127.0.0.1",
    demo_patients: Annotated[int, typer.Option("--demo-patients", min=1,
                                               help="Demo cohort size.")] = 200,
) -> None:
    """Serve the clinic's web app: worklist, patient pages, visit entry, team actions."""
    import uvicorn

    from alscare.store.engine import StoreError, display_url, init_db
    from alscare.web.config import ENV, WebConfig

    try:
        if demo:
            DEMO_DIR.mkdir(exist_ok=True)
            engine = init_db(db if db is not None else DEMO_DIR / "demo.db")
            password = _seed_demo(engine, demo_patients)
        else:
            engine = init_db(db)
            password = None
    except (StoreError, ValueError) as e:
        typer.echo(f"alscare: {e}", err=True)
        raise typer.Exit(2) from None
    url = engine.url.render_as_string(hide_password=False)
    config = WebConfig(db=url, protocol=str(protocol) if protocol else None,
                       model=str(model) if model else None, secure_cookies=secure_cookies,
                       demo=demo)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0", "::") else host
    typer.echo(f"alscare web app on http://{shown}:{port}/ (database "
               f"{display_url(engine)}, {workers} worker{'s' if workers > 1 else ''})")
    if password:
        for username, role, discipline, _ in DEMO_USERS:
            what = role.replace("_", " ") + (f", {discipline}" if discipline else "")
            typer.echo(f"demo login: {username} / {password}  ({what})")
    elif not _has_users(engine):
        typer.echo("no users yet: add one with `alscare users add NAME --role admin` "
                   "(password on standard input)")
    import os

    os.environ[ENV] = config.to_env()
    log_config = _log_config()
    if workers == 1:
        from alscare.web.app import create_app

        uvicorn.run(create_app(config), host=host, port=port, log_config=log_config,
                    proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips)
    else:
        uvicorn.run("alscare.web.app:create_app", factory=True, host=host, port=port,
                    workers=workers, log_config=log_config, proxy_headers=True,
                    forwarded_allow_ips=forwarded_allow_ips)


def _log_config() -> dict:
    from uvicorn.config import LOGGING_CONFIG

    cfg = {**LOGGING_CONFIG, "filters": {"redact": {"()": RedactPatients}}}
    cfg["handlers"] = {k: {**v, "filters": ["redact"]} if k == "access" else v
                       for k, v in LOGGING_CONFIG["handlers"].items()}
    return cfg


def _has_users(engine) -> bool:
    from alscare import accounts

    return bool(accounts.list_users(engine))


def _seed_demo(engine, patients: int) -> str:
    """The demo cohort and the demo accounts, all with one new random password."""
    from alscare import accounts
    from alscare.commands.demo import store_demo_cohort

    store_demo_cohort(engine, patients, seed=1)
    password = "demo-" + secrets.token_urlsafe(9)
    existing = {u.username for u in accounts.list_users(engine)}
    for username, role, discipline, name in DEMO_USERS:
        if username in existing:
            accounts.reset_password(engine, username, password, origin="demo")
            accounts.enable_user(engine, username, origin="demo")
        else:
            accounts.add_user(engine, username, password, role, discipline=discipline,
                              display_name=name, origin="demo")
    return password
