"""Pure: the Namespace of each environment, with tenant, cost and Pod Security labels.

Namespaces carry no ownerReference on purpose: the garbage collector must never be able
to delete a namespace (and the data in it) because a Tenant object went away. Mooring
deletes a namespace only by decision (core/plan.py), never by cascade.
"""

from __future__ import annotations

from mooring.api import names
from mooring.core.render.context import Context, KubeObject

PSA = "pod-security.kubernetes.io"


def render(ctx: Context) -> list[KubeObject]:
    objects = []
    for environment in ctx.tenant.spec.environments:
        level = environment.pod_security or ctx.tenant.spec.pod_security
        labels = {
            **ctx.tenant.spec.labels,
            **environment.labels,
            **ctx.labels(environment),
            f"{PSA}/enforce": level,
            f"{PSA}/enforce-version": "latest",
            # Always warn and audit at restricted, so a baseline tenant sees what it misses.
            f"{PSA}/warn": "restricted",
            f"{PSA}/warn-version": "latest",
            f"{PSA}/audit": "restricted",
            f"{PSA}/audit-version": "latest",
        }
        annotations = {}
        if ctx.owner_uid:
            annotations[names.ANNOTATION_TENANT_UID] = ctx.owner_uid
        objects.append(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": ctx.tenant.namespace(environment),
                    "labels": labels,
                    **({"annotations": annotations} if annotations else {}),
                },
            }
        )
    return objects
