"""`mooring check PATH... | -`: judge manifests against the guardrails before they merge.

Files, folders (every *.yaml / *.yml below them) and standard input ("-"), so that
`helm template ... | mooring check -` and kustomize output work. Exit codes: 0 no enforced
violation, 1 at least one (or an invalid Mooring document), 2 unreadable input or a
document that is not a Kubernetes object (or a usage error).
"""

from __future__ import annotations

import os
import sys
import types
from datetime import UTC, datetime

import click

from mooring.cli.check_formats import FORMATS, RENDERERS, Format, summary
from mooring.cli.output import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, error, say, write
from mooring.core.policy.rules import RULE_IDS
from mooring.services.check import PARALLEL_FROM_BYTES, default_jobs
from mooring.services.check import check as run_check
from mooring.services.sources import STDIN


def _no_pydantic_plugins() -> None:
    """pydantic looks for plugins when it builds its first validator: it imports
    importlib.metadata (email, zipfile, csv: about 20 ms, a tenth of `check --platform` on
    one file) to scan every installed distribution's entry points. `mooring check` uses no
    pydantic plugin: its loader is replaced by one that finds none, unless pydantic has
    built a validator already or the user names plugins to load."""
    loader = "pydantic.plugin._loader"
    if loader in sys.modules or os.environ.get("PYDANTIC_DISABLE_PLUGINS", "__all__") not in (
        "__all__",
        "1",
        "true",
    ):
        return
    none = types.ModuleType(loader, "No pydantic plugins for `mooring check`.")
    none.get_plugins = tuple  # type: ignore[attr-defined]
    sys.modules[loader] = none


def _time(value: str | None) -> datetime:
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not a time; write RFC 3339, e.g. 2026-06-30T00:00:00Z"
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@click.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="text",
    show_default=True,
    help="text (file:line), json, junit (XML), sarif (2.1.0) or github (annotations).",
)
@click.option(
    "--rule",
    "rules",
    multiple=True,
    metavar="ID",
    help=f"Run only this rule (repeatable). Rules: {', '.join(RULE_IDS)}.",
)
@click.option(
    "--platform",
    "platform_paths",
    multiple=True,
    metavar="FILE",
    help="The PlatformConfig (modes, registries, labels); also read from PATHS.",
)
@click.option(
    "--tenant",
    "tenant_paths",
    multiple=True,
    metavar="FILE",
    help="Tenant files (per-tenant modes and quotas), repeatable; also read from PATHS.",
)
@click.option(
    "--namespace",
    "-n",
    default=None,
    help="Namespace of objects that do not name one (as kubectl apply -n would).",
)
@click.option(
    "--filename",
    "stdin_name",
    default=STDIN,
    metavar="PATH",
    help="The path standard input ('-') came from, named in findings and reports "
    "(helm template chart/ | mooring check - --filename chart/).",
)
@click.option("--at", "at", default=None, metavar="TIME", help="Judge as at this time (RFC 3339).")
@click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=1),
    default=None,
    help="Worker processes for large inputs (default: one per core).",
)
def check(
    paths: tuple[str, ...],
    fmt: Format,
    rules: tuple[str, ...],
    platform_paths: tuple[str, ...],
    tenant_paths: tuple[str, ...],
    namespace: str | None,
    stdin_name: str,
    at: str | None,
    jobs: int | None,
) -> None:
    """Judge Kubernetes manifests in PATHS against Mooring's guardrails.

    The same rules the cluster enforces at admission. Exit 0 when no enforced rule is
    broken, 1 when one is, 2 when an input cannot be read or is not Kubernetes YAML.
    """
    unknown = [r for r in rules if r not in RULE_IDS]
    if unknown:
        error(f"unknown rule {unknown[0]!r}; rules are: {', '.join(RULE_IDS)}")
        sys.exit(EXIT_USAGE)
    now = _time(at)
    _no_pydantic_plugins()
    outcome = run_check(
        paths,
        now=now,
        platform_paths=platform_paths,
        tenant_paths=tenant_paths,
        namespace=namespace,
        rules=rules,
        jobs=jobs or default_jobs(),
        # Asked for by name, workers are used whatever the size of the input.
        parallel_from=0 if jobs else PARALLEL_FROM_BYTES,
        stdin_name=stdin_name,
        list_objects=fmt == "junit",  # a test case for every object, passing ones too
    )
    rendered = RENDERERS[fmt](outcome, now)
    if rendered:
        write(rendered)  # unstyled in every format, so no rich (start-up time)
    counts = summary(outcome)
    if fmt != "json":
        # Every error line counts, as in validate, render, apply and diff: rule violations,
        # unreadable inputs and invalid Mooring documents.
        errors = counts["errors"] + counts["unreadable"] + counts["invalid"]
        detail = [
            f"{counts[key]} {label}"
            for key, label in (("unreadable", "unreadable"), ("invalid", "invalid"))
            if counts[key]
        ]
        say(
            f"{counts['judged']} object(s) judged in {counts['documents']} document(s) of "
            f"{counts['files']} file(s): {errors} error(s)"
            + (f" ({', '.join(detail)})" if detail else "")
            + f", {counts['warnings']} warning(s), {counts['notes']} note(s)"
        )
    if outcome.errors:
        sys.exit(EXIT_USAGE)
    if counts["errors"] or outcome.invalid:
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_OK)
