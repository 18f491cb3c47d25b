"""Who is asking (:class:`Actor`) and what the app holds (:class:`Services`)."""

from __future__ import annotations

import datetime as dt
import hashlib
import threading
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from sqlalchemy import Engine

from alscare import __version__, dates
from alscare.assess import Settings
from alscare.web.config import WebConfig


@dataclass(frozen=True)
class Actor:
    """The signed-in user of one request, and where the request came from (for the audit)."""

    user_id: int
    username: str
    display_name: str
    role: str
    discipline: str | None
    origin: str  # e.g. "web 10.1.2.3" or "api 10.1.2.3"


@dataclass
class Services:
    """What every service function needs: the database, the assessment settings and their
    key (what a stored assessment was computed with), and the clock."""

    engine: Engine
    config: WebConfig
    settings: Settings
    settings_key: str
    refresh_lock: threading.Lock = field(default_factory=threading.Lock)

    def today(self) -> dt.date:
        return dates.today()


# Bump when the worklist's columns are computed differently (services/assessments.summary):
# every stored row is then stale and recomputed.
SUMMARY_VERSION = "2"


def settings_key(settings: Settings) -> str:
    """A digest of everything an assessment depends on besides the record and the day: the
    alscare version, the packaged rules and drug knowledge, the clinic protocol and the
    progression model's parameters."""
    h = hashlib.sha256(f"{__version__} {SUMMARY_VERSION}".encode())
    careplan = resources.files("alscare.careplan")
    for path in sorted(_files(Path(str(careplan)))):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    if settings.protocol is not None:
        h.update(Path(settings.protocol).read_bytes())
    model = settings.population_model()
    import json

    h.update(json.dumps(model.to_json(), sort_keys=True).encode())
    return h.hexdigest()[:32]


def _files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and p.suffix in (".yaml", ".yml",
                                                                         ".json")]
