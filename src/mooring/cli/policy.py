"""`mooring policy render | rules`: the admission objects the guardrails are enforced with.

`render` prints the ValidatingAdmissionPolicies and their bindings, generated from the
same rules `mooring check` evaluates (with the PlatformConfig and Tenants given, for modes).
The operator installs exactly these and keeps them current.
"""

from __future__ import annotations

import sys

import click

from mooring.api import yamldump
from mooring.api.guardrails import GuardrailSettings
from mooring.cli.output import EXIT_USAGE, err, out
from mooring.core.policy.admission import admission_objects
from mooring.core.policy.rules import ALL, RULE_IDS, select
from mooring.services.check import Outcome, Setup, read_setup
from mooring.services.sources import read_texts


@click.group()
def policy() -> None:
    """The guardrails as admission policies."""


@policy.command("render")
@click.argument("paths", nargs=-1)
@click.option("--rule", "rules", multiple=True, metavar="ID", help="Only this rule (repeatable).")
def render(paths: tuple[str, ...], rules: tuple[str, ...]) -> None:
    """Print the ValidatingAdmissionPolicies and bindings as YAML.

    PATHS may hold the PlatformConfig (modes) and Tenants (per-tenant modes); without them
    every rule is in enforce mode.
    """
    unknown = [r for r in rules if r not in RULE_IDS]
    if unknown:
        err.print(
            f"error: unknown rule {unknown[0]!r}; rules are: {', '.join(RULE_IDS)}", markup=False
        )
        sys.exit(EXIT_USAGE)
    texts, errors = read_texts(paths)
    outcome = Outcome()
    setup = Setup()
    read_setup(texts, setup, outcome)
    problems = [f"{e.position}: {e.message}" for e in errors]
    problems += [f"{position}: {message}" for position, message in outcome.invalid]
    if problems:
        for problem in problems:
            err.print(f"error: {problem}", markup=False)
        sys.exit(EXIT_USAGE)
    settings = setup.platform.spec.guardrails if setup.platform else GuardrailSettings()
    objects = admission_objects(settings, setup.tenants, select(rules))
    out.print(yamldump.dump_all(objects), end="", markup=False, highlight=False)


@policy.command("rules")
def list_rules() -> None:
    """List the rules: id, severity, title."""
    for rule in ALL:
        out.print(f"{rule.id:<24} {rule.severity:<9} {rule.title}", markup=False)
