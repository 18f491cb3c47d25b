"""``alscare fhir definitions``: publish alscare's CodeSystem and extension
StructureDefinitions (FHIR R4 JSON) under the clinic's namespace (``--fhir-base``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def definitions(
    out: Annotated[Path, typer.Option("--out", help="Folder for the JSON files.")],
) -> None:
    """Write the alscare CodeSystem and one StructureDefinition per alscare extension, under
    the namespace of `alscare --fhir-base URL` (or $ALSCARE_FHIR_BASE), for a clinic to host
    at those URLs."""
    from alscare.exporters.fhir import fhir_base
    from alscare.exporters.fhir_definitions import write

    paths = write(out)
    typer.echo(f"alscare: {len(paths)} FHIR definitions under {fhir_base()} -> {out}",
               err=True)


def register(app: typer.Typer) -> None:
    fhir_app = typer.Typer(help="alscare's FHIR definitions.", no_args_is_help=True)
    fhir_app.command("definitions")(definitions)
    app.add_typer(fhir_app, name="fhir")
