"""The clinic's own progression models, versioned in its database (issue 11): `alscare model fit
--db` stores one; assessing patients of that database uses the latest (`cohort assess --db`, the
web app), unless a model file or the packaged model is asked for. Models are JSON (never
pickled), read back with ``PopulationModel.from_json``."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import insert, select

from alscare.progression.model import PopulationModel
from alscare.store import audit
from alscare.store.engine import Target, open_store, writing
from alscare.store.tables import progression_models


@dataclass(frozen=True)
class StoredModel:
    """One stored model's metadata (``number``: its row, the order they were stored in)."""

    number: int
    model_id: str
    fitted_at: dt.datetime
    patients: int | None
    source: str | None
    actor: str


def save_model(target: Target, model: PopulationModel, *, source: str | None = None,
               actor: str | None = None, origin: str = "cli") -> int:
    """Store a fitted model as the database's newest; returns its number."""
    engine = open_store(target)
    actor = actor or audit.current_actor()
    n = model.fitted.get("n_patients")
    with writing(engine) as conn:
        number = conn.execute(insert(progression_models).values(
            model_id=model.version, fitted_at=dt.datetime.now(dt.UTC),
            patients=None if n is None else int(n), source=source, actor=actor,
            model_json=json.dumps(model.to_json())).returning(progression_models.c.id)
        ).scalar_one()
        audit.append(conn, actor=actor, action="model.stored", origin=origin,
                     detail={"model": model.version, "number": number,
                             "patients": None if n is None else int(n)})
    return int(number)


def latest_model(target: Target) -> PopulationModel | None:
    """The newest stored model, or None when the clinic has not fitted one."""
    with open_store(target).connect() as conn:
        row = conn.execute(select(progression_models.c.model_json)
                           .order_by(progression_models.c.id.desc()).limit(1)).first()
    return None if row is None else PopulationModel.from_json(json.loads(row[0]))


def list_models(target: Target) -> list[StoredModel]:
    """Every stored model, newest first."""
    c = progression_models.c
    with open_store(target).connect() as conn:
        rows = conn.execute(select(c.id, c.model_id, c.fitted_at, c.patients, c.source,
                                   c.actor).order_by(c.id.desc())).all()
    return [StoredModel(*r) for r in rows]
