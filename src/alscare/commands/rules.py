"""`alscare rules`: validate rule files and clinic protocols; list the active rules.

    alscare rules check FILE            a rule file (top-level `rules:`) or a clinic protocol
                                        (protocol/disable/enable/params/rules); exit 2 with the
                                        file, rule id and reason on error
    alscare rules list [--protocol F]   the active rules with code, priority, discipline, sources
                                        (--all also shows the disabled alternatives)

`alscare assess` and `alscare cohort assess` apply a protocol given with `--protocol FILE`
(or the environment variable ALSCARE_PROTOCOL, read by the command line only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

rules_app = typer.Typer(help="Care-plan rules: check rule files and clinic protocols, list the "
                             "active rules.", no_args_is_help=True)

PROTOCOL_MARKERS = {"protocol", "disable", "enable", "params"}


def _fail(message: str) -> None:
    typer.echo(f"alscare: {message}", err=True)
    raise typer.Exit(2)


@rules_app.command("check")
def check(file: Annotated[Path, typer.Argument(help="Rule file or clinic protocol (YAML).")]
          ) -> None:
    """Validate a rule file or a clinic protocol against the fact vocabulary and action codes."""
    from alscare.careplan import engine
    from alscare.careplan import protocol as protocol_mod

    if not file.is_file():
        _fail(f"{file}: no such file")
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        _fail(f"{file}: cannot read YAML: {e}")
        return
    try:
        if isinstance(doc, dict) and PROTOCOL_MARKERS & set(doc):
            rs = protocol_mod.load(file)
            added = sum(r.file == str(file) for r in rs.rules)
            typer.echo(f"{file}: protocol {rs.protocol!r} OK: {len(rs.active)} active rules "
                       f"({added} added by the protocol)")
        else:
            rules = engine.load_rule_file(file)
            packaged = {r.id for r in engine.load_ruleset().rules
                        if Path(r.file).resolve() != file.resolve()}
            clash = [r.id for r in rules if r.id in packaged]
            if clash:
                _fail(f"{file}: rule {clash[0]}: id already used by a packaged rule")
            typer.echo(f"{file}: {len(rules)} rules OK")
    except engine.RuleError as e:
        for line in str(e).splitlines():
            typer.echo(f"alscare: {line}", err=True)
        raise typer.Exit(2) from None


@rules_app.command("list")
def list_rules(
    protocol: Annotated[Path | None, typer.Option("--protocol", help="Clinic protocol to apply."
                                                  )] = None,
    all_: Annotated[bool, typer.Option("--all", help="Also show disabled rules.")] = False,
) -> None:
    """Print the active rules: id, code, priority or severity, discipline, parameters, sources."""
    from alscare.careplan import engine
    from alscare.careplan import protocol as protocol_mod

    try:
        rs = protocol_mod.load(protocol) if protocol else engine.load_ruleset()
    except engine.RuleError as e:
        for line in str(e).splitlines():
            typer.echo(f"alscare: {line}", err=True)
        raise typer.Exit(2) from None
    shown = rs.rules if all_ else rs.active
    title = f"protocol {rs.protocol}" if rs.protocol else "packaged rules"
    typer.echo(f"{len(rs.active)} active rules of {len(rs.rules)} ({title})")
    for r in sorted(shown, key=lambda r: (r.kind, r.code, r.id)):
        level = r.level or "gap"
        state = "" if r.enabled else "  [disabled]"
        typer.echo(f"\n{r.id}{state}")
        typer.echo(f"  {r.kind}: {r.code}  [{level}]" + (f"  {r.discipline}" if r.discipline
                                                         else ""))
        typer.echo(f"  when: {' '.join(r.when.source.split())}")
        if r.params:
            typer.echo("  params: " + ", ".join(f"{k}={v}" for k, v in r.params.items()))
        for s in r.sources_text():
            typer.echo(f"  source: {s}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the main app."""
    app.add_typer(rules_app, name="rules")
