"""`alscare synth`: a synthetic cohort with its ground truth (``alscare.synth``)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer


class SynthFormat(StrEnum):
    records = "records"
    proact = "proact"
    fhir = "fhir"


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""

    @app.command("synth")
    def synth(
        out: Annotated[Path, typer.Option("--out", help="Output: a .jsonl file (records), a "
                                          "folder (proact) or a .json Bundle (fhir).")],
        patients: Annotated[int, typer.Option("--patients", min=0,
                                              help="Number of patients.")] = 200,
        seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same "
                                          "cohort).")] = 1,
        format: Annotated[SynthFormat, typer.Option("--format", help="records | proact | "
                                                    "fhir")] = SynthFormat.records,
        figures: Annotated[bool, typer.Option("--figures", help="Also print the cohort's "
                                              "calibration figures (JSON) on stdout.")] = False,
    ) -> None:
        """Generate a synthetic ALS cohort calibrated to published natural history, with its
        ground truth (latent slopes, plateaus, drug effects, death) written beside it as
        <name>.truth.csv (alscare_truth.csv inside a PRO-ACT folder, with days on the folder's
        scale in the *_day columns)."""
        from alscare import synth as gen

        # PRO-ACT holds one study drug (the Treatment table's active arm) and no other
        # disease-modifying drug, so a PRO-ACT cohort's drug started in follow-up is always
        # the study drug; the rest of the cohort is the same as for the other formats.
        options = {"drug_names": (("study drug", 1.0),)} if format == SynthFormat.proact else {}
        cohort = gen.generate(patients, seed, **options)
        paths = gen.write(cohort, format.value, out)
        if figures:
            import json

            typer.echo(json.dumps({k: round(v, 4) for k, v in
                                   gen.calibration_figures(cohort).items()}, indent=2))
        n_visits = len(cohort.cohort.visits)
        typer.echo(
            f"alscare: {patients} synthetic patients, {n_visits} visits (seed {seed}) -> "
            + ", ".join(str(p) for p in paths),
            err=True,
        )
