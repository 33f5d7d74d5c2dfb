"""`mooring tenant status [NAME]`: a team's scorecard, readable with a member's kubeconfig.

Ready and why not, namespaces with quota used vs hard, guardrail violations, Databases,
and what other parts of the platform add (cost, alerts). Exit codes: 0 shown, 2 no such
tenant (or none can be told from the namespace), 3 the cluster could not be reached or
refused (for example: someone else's tenant).
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from mooring.api import yamldump
from mooring.cli.options import connect, context_namespace, kube_options, output_option
from mooring.cli.output import EXIT_FAILED, EXIT_USAGE, error, out
from mooring.core.scorecard import QuotaLine, Scorecard
from mooring.kube.client import Forbidden, KubeError
from mooring.services.scorecard import NoTenant, scorecard, tenant_of_namespace

# Quota resources shown first, in this order; the rest follow alphabetically.
QUOTA_ORDER = (
    "requests.cpu",
    "limits.cpu",
    "requests.memory",
    "limits.memory",
    "pods",
    "requests.storage",
)
MAX_VIOLATIONS = 20


def _quota(line: QuotaLine) -> str:
    share = f" ({line.percent}%)" if line.percent is not None else ""
    return f"{line.resource} {line.used}/{line.hard}{share}"


def text(card: Scorecard) -> str:
    """Pure: the scorecard for people."""
    lines = [
        f"Tenant {card.tenant}"
        + (f"   tier {card.tier}" if card.tier else "")
        + (f"   cost center {card.cost_center}" if card.cost_center else ""),
        f"Ready: {card.ready.status} ({card.ready.reason})"
        + (f": {card.ready.message}" if card.ready.message else ""),
    ]
    others = [p for p in card.problems if p.type != "Ready"]
    if others:
        lines.append("Not ready:")
        lines += [f"  {p.type} {p.status} ({p.reason}): {p.message}" for p in others]
    lines += ["", "Namespaces:"]
    for ns in card.namespaces:
        env = f" ({ns.environment})" if ns.environment else ""
        why = f": {ns.message}" if ns.message else ""
        lines.append(f"  {ns.name}{env} {ns.phase}{why}")
        order = {r: i for i, r in enumerate(QUOTA_ORDER)}
        quota = sorted(ns.quota, key=lambda q: (order.get(q.resource, len(order)), q.resource))
        if quota:
            lines.append("    quota: " + ", ".join(_quota(q) for q in quota))
    summary = card.guardrails.summary
    violations = card.guardrails.violations
    lines += [
        "",
        "Guardrails: "
        + (
            ", ".join(f"{summary.get(k, 0)} {k}" for k in ("fail", "warn", "pass"))
            if summary
            else "no audit report yet"
        ),
    ]
    for v in violations[:MAX_VIOLATIONS]:
        mode = f" [{v.mode}]" if v.mode else ""
        lines.append(f"  {v.result} {v.namespace} {v.resource} {v.rule}{mode}: {v.message}")
    if len(violations) > MAX_VIOLATIONS:
        lines.append(f"  ... and {len(violations) - MAX_VIOLATIONS} more (-o yaml lists all)")
    lines += ["", "Databases:" + ("" if card.databases else " none")]
    for db in card.databases:
        why = f" ({db.reason})" if db.reason else ""
        lines.append(f"  {db.namespace}/{db.name} {db.plan} Ready={db.ready}{why}")
    for section in card.sections:
        lines += ["", f"{section.title}:", *(f"  {line}" for line in section.lines)]
    if card.notes:
        lines += ["", "Not shown:", *(f"  {note}" for note in card.notes)]
    return "\n".join(lines)


@click.command("status")
@click.argument("name", required=False)
@click.option(
    "-n",
    "--namespace",
    default=None,
    help="The tenant of this namespace, without NAME; with NAME, where a member finds its "
    "TenantView (default: the context's namespace).",
)
@output_option(("text", "json", "yaml"), "text")
@kube_options
def status(
    name: str | None,
    namespace: str | None,
    output: str,
    kubeconfig: Path | None,
    context: str | None,
) -> None:
    """Show a tenant's scorecard: Ready and why not, quota, violations, Databases.

    Works with a team member's own kubeconfig (members read the tenant's TenantView, found
    from the namespace). Without NAME, the tenant is the one the namespace (-n, or the
    kubeconfig context's) belongs to.
    """

    async def gather() -> Scorecard:
        async with connect(kubeconfig, context) as kube:
            where = context_namespace(kubeconfig, context, namespace)
            tenant = name or await tenant_of_namespace(kube, where)
            return await scorecard(kube, tenant, where)

    try:
        card = asyncio.run(gather())
    except NoTenant as problem:
        error(str(problem))
        sys.exit(EXIT_USAGE)
    except Forbidden as problem:
        error(
            f"{problem}\n(members read their own tenant only, through one of its namespaces: "
            "-n NAMESPACE; ask an owner to add you)"
        )
        sys.exit(EXIT_FAILED)
    except (KubeError, OSError) as problem:
        error(str(problem))
        sys.exit(EXIT_FAILED)
    if output == "json":
        out.print(json.dumps(card.to_dict(), indent=2), markup=False, highlight=False)
    elif output == "yaml":
        out.print(yamldump.dump(card.to_dict()), end="", markup=False, highlight=False)
    else:
        out.print(text(card), markup=False, highlight=False)
