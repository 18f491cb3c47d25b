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
    out: Annotated[Path, typer.Option("--out", help="Model file to write (JSON).")],
    proact: Annotated[Path | None, typer.Option("--proact", help="PRO-ACT CSV folder.")] = None,
    db: Annotated[str | None, typer.Option("--db", help="SQLite path or postgresql:// URL.")] =
    None,
    records: Annotated[Path | None, typer.Option("--records", help="Canonical JSON/JSONL file "
                                                 "or folder of records.")] = None,
) -> None:
    """Refit the population progression model (EM over the whole cohort) and save a versioned
    model file; `assess` uses it when ALSCARE_MODEL=FILE is set."""
    from alscare.cli import refuse
    from alscare.pipeline import load_cohort
    from alscare.progression.fit import fit_cohort

    sources = [s for s in (proact, db, records) if s is not None]
    if len(sources) != 1:
        refuse("model fit needs exactly one of --proact DIR, --db URL, --records PATH")
    t0 = time.perf_counter()
    try:
        cohort, errors = load_cohort(proact=proact, db=db, records=records)
    except ValueError as e:
        refuse(str(e))
        return
    model = fit_cohort(cohort, source=str(sources[0]))
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    checks = model.fitted.get("checks", {})
    cov = checks.get("alsfrs_r_total", {}).get("holdout_last_visit", {}).get("coverage80")
    typer.echo(
        f"alscare: model {model.version} fitted on {len(cohort)} patients "
        f"({len(errors)} refused) in {time.perf_counter() - t0:.1f} s -> {out}"
        + (f"; held-out ALSFRS-R 80% coverage {cov:.2f}" if cov is not None else ""),
        err=True,
    )


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
