"""Pure: what `mooring validate` checks about the Database resources of a repository.

The same rules the operator applies in the cluster, found before the merge: a Database
lives in a tenant's namespace, names a server the platform offers with the version it
runs, and the tenant stays within its tier's number of databases and storage.
"""

from __future__ import annotations

from collections import defaultdict

from mooring.api.database import Database
from mooring.api.documents import Document
from mooring.api.quantity import parse_quantity
from mooring.core.database import Claim, over_limits, placement_problem
from mooring.core.validate import Finding, Parsed


def check_databases(parsed: Parsed) -> list[Finding]:
    databases = [
        (db, document)
        for db, document in parsed.others.get("Database", [])
        if isinstance(db, Database)
    ]
    if not databases:
        return []
    tenant_of = {
        tenant.namespace(env): tenant
        for tenant, _ in parsed.tenants
        for env in tenant.spec.environments
    }
    platform = parsed.platform[0].spec if parsed.platform else None
    findings: list[Finding] = []
    seen: dict[tuple[str, str], Document] = {}
    claims: dict[str, list[Claim]] = defaultdict(list)
    where: dict[tuple[str, str], Document] = {}
    for index, (db, document) in enumerate(databases):
        namespace = db.metadata.namespace
        if namespace is None:
            findings.append(
                Finding(
                    "database-no-namespace",
                    f"Database {db.name!r} has no metadata.namespace, so its tenant (and the "
                    "tier's limits) cannot be checked; set the namespace it will live in",
                    ("metadata",),
                    severity="warning",
                    document=document,
                )
            )
            continue
        key = (namespace, db.name)
        if key in seen:
            findings.append(
                Finding(
                    "duplicate-database",
                    f"Database {namespace}/{db.name} is also defined at "
                    f"{seen[key].position(('metadata', 'name'))}; define it once",
                    ("metadata", "name"),
                    document=document,
                )
            )
            continue
        seen[key] = document
        tenant = tenant_of.get(namespace)
        if tenant is None:
            if parsed.tenants:
                findings.append(
                    Finding(
                        "database-not-in-tenant",
                        f"namespace {namespace!r} is not a tenant namespace in this repository "
                        "(tenant name + '-' + environment); a Database lives next to its "
                        "tenant's workloads",
                        ("metadata", "namespace"),
                        document=document,
                    )
                )
            continue
        if platform is None:
            continue
        problem = placement_problem(db.spec, platform.databases)
        if problem is not None:
            findings.append(Finding(problem.code, problem.message, problem.path, document=document))
        claims[tenant.name].append(
            Claim(True, f"{index:08d}", namespace, db.name, parse_quantity(db.spec.storage))
        )
        where[key] = document
    if platform is not None:
        tiers = {t.name: t.spec.tier or platform.default_tier for t, _ in parsed.tenants}
        for tenant_name, tenant_claims in claims.items():
            tier = platform.tiers.get(tiers[tenant_name])
            if tier is None:
                continue  # the tenant's own check reports the unknown tier
            for key, message in over_limits(
                tenant_claims, tier.databases, tiers[tenant_name]
            ).items():
                findings.append(
                    Finding(
                        "database-over-limit", message, ("metadata", "name"), document=where[key]
                    )
                )
    return findings
