"""``alscare demo``: the main job end to end on the embedded default database.

Generates a synthetic demo cohort (``alscare.synth``, with its ground truth kept beside it),
stores it in a database of its own (``<out>/demo.db``, or ``--db``; never the clinic's
default database, so synthetic patients are never mixed with real ones), assesses every
patient from the database in one pass, writes the assessments as JSON Lines and prints a clinic
summary plus the care plan of the patient who needs the most urgent attention.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    patients: Annotated[int, typer.Option("--patients", min=1, help="Demo cohort size.")] = 200,
    seed: Annotated[int, typer.Option("--seed", help="Generator seed.")] = 1,
    db: Annotated[str | None, typer.Option("--db", help="Database for the demo cohort "
                                           "(default: OUT/demo.db; never the clinic database "
                                           "$ALSCARE_DB).")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for the demo outputs.")] = Path(
        "alscare-demo"),
) -> None:
    """Generate a demo cohort, store it, assess everyone and show the clinic's worklist."""
    from alscare.pipeline import load_cohort, run_cohort
    from alscare.store.engine import display_url, init_db

    out.mkdir(parents=True, exist_ok=True)
    engine = init_db(db if db is not None else out / "demo.db")
    url = engine.url.render_as_string(hide_password=False)
    summary, truth = store_demo_cohort(engine, patients, seed)
    truth.to_csv(out / "truth.csv")
    typer.echo(f"Demo cohort: {patients} synthetic patients (seed {seed}) stored in "
               f"{display_url(engine)} ({len(summary.new)} new, {len(summary.replaced)} "
               f"replaced, {len(summary.unchanged)} unchanged).")
    assessments = out / "assessments.jsonl"
    cohort, _ = load_cohort(db=url)
    result = run_cohort(out=assessments, cohort=cohort)
    typer.echo(f"Assessed {result.assessed} patients -> {assessments}")
    _print_worklist(assessments)


def store_demo_cohort(engine, patients: int, seed: int):
    """Generate the synthetic demo cohort, a clinic as of today (patients enrolled over the
    last three years, follow-up ending today, so that "overdue" and the forecasts mean what
    they say), and store it in the demo's own database (a rerun with another seed or size
    replaces its patients). Returns the import summary and the generator's ground truth.
    Used by ``alscare demo`` and ``alscare serve --demo``."""
    from alscare import synth
    from alscare.frames import to_records
    from alscare.store.repository import save_records

    today = dt.date.today()
    generated = synth.generate(patients, seed, data_cut=today,
                               enrol_from=today - dt.timedelta(days=3 * 365),
                               enrol_to=today - dt.timedelta(days=60))
    summary = save_records(engine, to_records(generated.cohort), replace=True,
                           source=f"alscare demo (seed {seed})")
    return summary, generated.truth


def _print_worklist(path: Path) -> None:
    from alscare.views.text import render

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    alive = [a for a in rows if not a["deceased"]]
    urgent = Counter()
    codes = Counter()
    for a in alive:
        for r in a["recommendations"]:
            codes[r["code"]] += 1
            if r["priority"] == "urgent":
                urgent[a["patient_id"]] += 1
    not_resp = sum(any(r["status"] == "not_responding" for r in a["response"]) for a in alive)
    typer.echo(f"\n{len(alive)} living patients; {len(rows) - len(alive)} deceased.")
    typer.echo(f"{sum(1 for v in urgent.values() if v)} patients with an urgent recommendation; "
               f"{not_resp} with a drug that is not slowing decline.")
    typer.echo("Most frequent recommendations:")
    for code, n in codes.most_common(8):
        typer.echo(f"  {n:5d}  {code}")
    if alive:
        top = max(alive, key=lambda a: (urgent[a["patient_id"]], len(a["recommendations"])))
        typer.echo("\nThe patient who needs the most urgent attention:\n")
        typer.echo(render(top), nl=False)
