"""The web app's settings: the database, the assessment settings and the security knobs.

Passed to :func:`alscare.web.app.create_app`; for several worker processes they travel as
JSON in the environment variable ``ALSCARE_WEB_CONFIG`` (``alscare serve`` sets it).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass

ENV = "ALSCARE_WEB_CONFIG"


@dataclass(frozen=True)
class WebConfig:
    db: str  # SQLAlchemy URL or SQLite path
    protocol: str | None = None  # clinic protocol YAML
    model: str | None = None  # progression model file
    # Secure cookies: None = when the request came over HTTPS (behind a TLS proxy that sets
    # X-Forwarded-Proto, with uvicorn's --forwarded-allow-ips); True/False to force.
    secure_cookies: bool | None = None
    session_idle_minutes: int = 30
    session_max_hours: int = 12
    throttle_per_user: int = 5  # failed sign-ins per username ...
    throttle_per_ip: int = 20  # ... or per address ...
    throttle_minutes: int = 15  # ... within this window lock sign-in for the same time
    page_size: int = 25
    demo: bool = False  # show the demo banner (synthetic data)

    def to_env(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> WebConfig:
        raw = os.environ.get(ENV)
        if not raw:
            raise RuntimeError(f"{ENV} is not set: start the app with `alscare serve`")
        return cls(**json.loads(raw))
