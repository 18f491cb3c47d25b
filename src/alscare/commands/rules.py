"""`alscare` sub-commands: rules (filled in by the issue that builds it)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
