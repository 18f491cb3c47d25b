"""`alscare model`: refit the population progression model on a cohort, or show one."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

model_app = typer.Typer(help="Population progression model (fit, show).",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(model_app, name="model")


@model_app.command("fit")
def fit(
    out: Annotated[Path | None, typer.Option("--out", help="Model file to write (JSON); "
                                             "with --db and no --out the model is stored in "
                                             "that database.")] = None,
    proact: Annotated[Path | None, typer.Option("--proact", help="PRO-ACT CSV folder.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="SQLite path or postgresql:// URL.")] =
    None,
    records: Annotated[Path | None, typer.Option("--records", help="Canonical JSON/JSONL file "
                                                 "or folder of records.")] = None,
) -> None:
    """Fit the population progression model on a cohort, shrunk toward the packaged model
    (progression.fit.fit_for_cohort), and save it: in the clinic database (--db without
    --out: the newest is used to assess its patients) or as a model file (--model FILE)."""
    from alscare.cli import refuse
    from alscare.pipeline import load_cohort
    from alscare.progression import model as model_mod
    from alscare.progression.fit import MIN_COHORT_PATIENTS, fit_for_cohort, informative_patients

    sources = [s for s in (proact, db, records) if s is not None]
    if len(sources) != 1:
        refuse("model fit needs exactly one of --proact DIR, --db URL, --records PATH")
    if out is None and db is None:
        refuse("model fit needs --out FILE (or --db URL to store the model in that database)")
    t0 = time.perf_counter()
    try:
        cohort, errors = load_cohort(proact=proact, db=db, records=records)
    except ValueError as e:
        refuse(str(e))
        return
    usable = informative_patients(cohort)
    if usable < MIN_COHORT_PATIENTS:
        refuse(f"{sources[0]}: {usable} patients with a known onset and 2 or more ALSFRS-R "
               f"visits; allowed: at least {MIN_COHORT_PATIENTS} to fit a model (below that "
               "the packaged model is used)")
    model = fit_for_cohort(cohort, base=model_mod.packaged())
    model.fitted.setdefault("source", str(sources[0]))
    where = str(out)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        model.save(out)
    else:
        from alscare.store.models import save_model

        number = save_model(db, model, source=str(db))
        where = f"the database (stored model {number}, used to assess its patients)"
    checks = model.fitted.get("checks", {})
    cov = checks.get("alsfrs_r_total", {}).get("holdout_last_visit", {}).get("coverage80")
    typer.echo(
        f"alscare: model {model.version} fitted on {len(cohort)} patients "
        f"({len(errors)} refused) in {time.perf_counter() - t0:.1f} s -> {where}"
        + (f"; held-out ALSFRS-R 80% coverage {cov:.2f}" if cov is not None else ""),
        err=True,
    )


@model_app.command("list")
def list_models(
    db: Annotated[str | None, typer.Option("--db", help="SQLite path or postgresql:// URL.")] =
    None,
) -> None:
    """The models stored in a clinic database, newest (the one in use) first."""
    from alscare.cli import refuse
    from alscare.store.models import list_models as stored

    try:
        rows = stored(db)
    except ValueError as e:
        refuse(str(e))
        return
    if not rows:
        typer.echo("no stored model: assessments of this database fit one on the cohort "
                   "(cohort assess) or use the packaged model")
    for i, m in enumerate(rows):
        typer.echo(f"{m.number:4d}  {m.model_id}  {m.fitted_at:%Y-%m-%d %H:%M}  "
                   f"{m.patients or '?'} patients  by {m.actor}" + ("  (in use)" if i == 0
                                                                     else ""))


@model_app.command("show")
def show(
    path: Annotated[Path | None, typer.Argument(help="Model file (default: the packaged "
                                                "model).", envvar="ALSCARE_MODEL")] = None,
) -> None:
    """Print a model file (default: $ALSCARE_MODEL, else the packaged model)."""
    from alscare.cli import refuse
    from alscare.progression import model as model_mod

    try:
        m = model_mod.load(path) if path else model_mod.packaged()
    except (ValueError, OSError) as e:
        refuse(str(e))
        return
    typer.echo(json.dumps(m.to_json(), indent=1))
