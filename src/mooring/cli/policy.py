"""`mooring policy render | rules`: the admission objects the guardrails are enforced with.

`render` prints the ValidatingAdmissionPolicies and their bindings, generated from the
same rules `mooring check` evaluates (with the PlatformConfig and Tenants given, for modes).
The operator installs exactly these and keeps them current.
"""

from __future__ import annotations

import json
import sys

import click

from mooring.api import yamldump
from mooring.api.guardrails import GuardrailSettings
from mooring.cli.options import output_option
from mooring.cli.output import EXIT_USAGE, OBJECT_FORMATS, error, out, print_objects
from mooring.core.policy.admission import admission_objects
from mooring.core.policy.rules import ALL, RULE_IDS, select
from mooring.services.check import Outcome, Setup, read_setup
from mooring.services.sources import read_texts


@click.group()
def policy() -> None:
    """The guardrails as admission policies."""


@policy.command("render")
@click.argument("paths", nargs=-1)
@click.option(
    "-f",
    "--filename",
    "filenames",
    multiple=True,
    metavar="PATH",
    help="A file or folder to read, like PATH ('-' reads standard input); repeatable.",
)
@click.option("--rule", "rules", multiple=True, metavar="ID", help="Only this rule (repeatable).")
@output_option(OBJECT_FORMATS, "yaml")
def render(
    paths: tuple[str, ...], filenames: tuple[str, ...], rules: tuple[str, ...], output: str
) -> None:
    """Print the ValidatingAdmissionPolicies and bindings (YAML, a JSON List, or names).

    PATHS may hold the PlatformConfig (modes) and Tenants (per-tenant modes); without them
    every rule is in enforce mode.
    """
    unknown = [r for r in rules if r not in RULE_IDS]
    if unknown:
        error(f"unknown rule {unknown[0]!r}; rules are: {', '.join(RULE_IDS)}")
        sys.exit(EXIT_USAGE)
    texts, errors = read_texts((*paths, *filenames))
    outcome = Outcome()
    setup = Setup()
    read_setup(texts, setup, outcome)
    problems = [f"{e.position}: {e.message}" for e in errors]
    problems += [f"{position}: {message}" for position, message in outcome.invalid]
    if problems:
        for problem in problems:
            error(problem)
        sys.exit(EXIT_USAGE)
    settings = setup.platform.spec.guardrails if setup.platform else GuardrailSettings()
    objects = admission_objects(settings, setup.tenants, select(rules))
    print_objects(objects, output)


@policy.command("rules")
@output_option(("table", "json", "yaml", "name"), "table")
def list_rules(output: str) -> None:
    """List the rules: id, severity, title (json and yaml add category and description)."""
    rows = [
        {
            "id": rule.id,
            "severity": rule.severity,
            "category": rule.category,
            "title": rule.title,
            "description": rule.description,
        }
        for rule in ALL
    ]
    if output == "json":
        out.print(json.dumps(rows, indent=2), markup=False)
    elif output == "yaml":
        out.print(yamldump.dump(rows), end="", markup=False)
    elif output == "name":
        for rule in ALL:
            out.print(rule.id, markup=False)
    else:
        for rule in ALL:
            out.print(f"{rule.id:<24} {rule.severity:<9} {rule.title}", markup=False)
