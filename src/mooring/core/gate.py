"""Pure: the pull-request gate around tenants' files. What may be in them, and where it lands.

A pull request that touches a tenant's file is reviewed as a tenant change; nothing else
may ride along. So, in the files that hold tenants (any file under a `tenants/` folder,
and any file that holds a Tenant, Database or PolicyException):
- every object is a Mooring resource: a ClusterRoleBinding (or a Deployment, a Namespace)
  is refused, whatever its namespace. `mooring apply` applies only Mooring's kinds, and
  cluster-wide objects are the platform team's, delivered with its addons;
- no PlatformConfig under tenants/: it is the platform team's file, not a tenant's;
- a namespaced Mooring resource lands in its tenant's namespaces (the Tenant of the same
  file, or the one the path names: tenants/<name>.yaml, tenants/<name>/...), and never in
  a reserved namespace.
Everywhere, a Mooring resource's metadata is what Git may say: name, namespace, labels,
annotations (not kopf's), and no namespace on a cluster-scoped kind.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from typing import Any

from mooring.api.documents import Document
from mooring.api.kinds import KINDS
from mooring.api.names import GROUP, KOPF_PREFIX
from mooring.api.platform import ALWAYS_RESERVED
from mooring.core.isolation import reserved_by, reserved_namespaces
from mooring.core.validate import MODELS, Finding, Parsed

TENANT_KINDS = frozenset({"Tenant", "Database", "PolicyException"})
SCOPE = {kind.kind: kind.scope for kind in KINDS}
METADATA = ("name", "namespace", "labels", "annotations")
TENANTS_FOLDER = "tenants"
# Well-known cluster-scoped kinds, named as such in the finding.
CLUSTER_SCOPED = frozenset(
    {
        "APIService",
        "CertificateSigningRequest",
        "ClusterIssuer",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
        "MutatingWebhookConfiguration",
        "Namespace",
        "Node",
        "PersistentVolume",
        "PriorityClass",
        "RuntimeClass",
        "StorageClass",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "ValidatingWebhookConfiguration",
    }
)


def mooring_kind(obj: Any) -> str | None:
    """The kind of a Mooring resource (known or not), or None for anything else."""
    if not isinstance(obj, dict) or "kind" not in obj or "apiVersion" not in obj:
        return None
    if str(obj["apiVersion"]).rpartition("/")[0] != GROUP:
        return None
    return str(obj["kind"])


def _is_object(obj: Any) -> bool:
    return isinstance(obj, dict) and "kind" in obj and "apiVersion" in obj


def _folder_owner(source: str, tenants: Container[str]) -> str | None:
    """The tenant a path under tenants/ names: tenants/payments.yaml, tenants/payments/db.yaml
    and tenants/payments-db.yaml -> payments (the longest tenant name the file name starts
    with, followed by "-"), or None."""
    parts = source.replace("\\", "/").split("/")
    for at, part in enumerate(parts[:-1]):
        if part == TENANTS_FOLDER:
            rest = parts[at + 1 :]
            if len(rest) > 1:
                return rest[0] if rest[0] in tenants else None
            words = rest[0].rsplit(".", 1)[0].split("-")
            for end in range(len(words), 0, -1):
                name = "-".join(words[:end])
                if name in tenants:
                    return name
            return None
    return None


def in_tenant_files(source: str) -> bool:
    return TENANTS_FOLDER in source.replace("\\", "/").split("/")[:-1]


def unread_manifests(paths: Sequence[str]) -> list[Finding]:
    """Files in tenants/ folders that Mooring does not read but Argo CD would apply (JSON,
    Jsonnet): a way around the gate, so an error each."""
    return [
        Finding(
            "unread-manifest",
            f"{path} is not read by mooring validate (it reads YAML), yet Argo CD applies "
            "JSON and Jsonnet files of a folder too; write tenants' files as YAML",
            document=Document(path, 0, None),
        )
        for path in paths
        if in_tenant_files(path)
    ]


def check_gate(documents: Sequence[Document], parsed: Parsed) -> list[Finding]:
    """Findings of the gate over every document (Mooring's or not) of a repository."""
    platform = parsed.platform[0].spec if parsed.platform is not None else None
    reserved = reserved_namespaces(platform) if platform is not None else list(ALWAYS_RESERVED)
    namespaces_of = {
        tenant.name: {tenant.namespace(env) for env in tenant.spec.environments}
        for tenant, _ in parsed.tenants
    }
    by_source: dict[str, list[Document]] = {}
    for document in documents:
        by_source.setdefault(document.source, []).append(document)
    findings: list[Finding] = []
    for source, group in by_source.items():
        kinds = [mooring_kind(document.obj) for document in group]
        folder = in_tenant_files(source)
        scoped = folder or any(kind in TENANT_KINDS for kind in kinds)
        owners = {
            str(document.obj.get("metadata", {}).get("name"))
            for document, kind in zip(group, kinds, strict=True)
            if kind == "Tenant" and isinstance(document.obj.get("metadata"), dict)
        }
        if not owners and folder:
            named = _folder_owner(source, namespaces_of)
            if named is not None:
                owners = {named}
        allowed = set().union(*(namespaces_of.get(owner, set()) for owner in owners))
        for document, kind in zip(group, kinds, strict=True):
            if kind is None:
                if scoped and _is_object(document.obj):
                    findings.append(_not_mooring(document, owners))
                continue
            if kind not in MODELS:
                continue  # reported by validate as an unknown kind
            findings += _metadata(document, kind)
            if kind == "PlatformConfig" and folder:
                findings.append(
                    Finding(
                        "platform-in-tenant-files",
                        "the PlatformConfig is the platform team's (platform.yaml), not part "
                        "of a tenant's files; move it out of tenants/",
                        ("kind",),
                        document=document,
                    )
                )
            if SCOPE.get(kind) != "Namespaced":
                continue
            metadata = document.obj.get("metadata")
            namespace = metadata.get("namespace") if isinstance(metadata, dict) else None
            if not isinstance(namespace, str):
                if (folder or owners) and isinstance(metadata, dict):
                    findings.append(_no_namespace(document, kind, owners, allowed))
                continue
            why = reserved_by(namespace, reserved)
            if why is not None:
                findings.append(
                    Finding(
                        "reserved-namespace",
                        f"namespace {namespace} is reserved for the platform ({why}); a "
                        f"{kind} lives in one of its tenant's namespaces",
                        ("metadata", "namespace"),
                        document=document,
                    )
                )
            elif folder and not owners:
                findings.append(
                    Finding(
                        "outside-tenant",
                        f"{source} holds no Tenant and its path names none (tenants/<tenant>"
                        ".yaml, tenants/<tenant>-<anything>.yaml or tenants/<tenant>/...), so "
                        "whose namespace "
                        f"{namespace} is cannot be told; put the {kind} in its tenant's file "
                        "or folder",
                        ("metadata", "namespace"),
                        document=document,
                    )
                )
            elif scoped and owners and namespace not in allowed:
                findings.append(
                    Finding(
                        "outside-tenant",
                        f"namespace {namespace} is not one of tenant "
                        f"{' or '.join(sorted(owners))}'s namespaces "
                        f"({', '.join(sorted(allowed)) or 'none'}); a tenant's files hold "
                        "objects for its own namespaces only",
                        ("metadata", "namespace"),
                        document=document,
                    )
                )
    return findings


def _no_namespace(document: Document, kind: str, owners: set[str], allowed: set[str]) -> Finding:
    """A namespaced Mooring resource in a tenant's files lands wherever the tool applying it
    puts it (Argo CD's destination, kubectl's context): it must say which namespace."""
    choices = f": one of {', '.join(sorted(allowed))}" if allowed else ""
    whose = f"tenant {' or '.join(sorted(owners))}'s" if owners else "its tenant's"
    return Finding(
        "no-namespace",
        f"a {kind} in a tenant's files has no metadata.namespace, so where it lands is up to "
        f"whatever applies it; set the namespace ({whose}{choices})",
        ("metadata",),
        document=document,
    )


def _not_mooring(document: Document, owners: set[str]) -> Finding:
    obj = document.obj
    kind = str(obj.get("kind"))
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = metadata.get("name", "")
    namespace = metadata.get("namespace")
    what = f"{kind} {name}".strip()
    if kind in CLUSTER_SCOPED:
        where = "a cluster-scoped object (it acts on every namespace, every tenant's)"
    elif namespace:
        where = f"an object in namespace {namespace}"
    else:
        where = "an object with no namespace"
    whose = f"tenant {' or '.join(sorted(owners))}'s files" if owners else "tenants' files"
    return Finding(
        "not-mooring",
        f"{what} is {where}, not a Mooring resource; {whose} may hold only Tenant, Database "
        "and PolicyException objects. Nothing else here is applied (`mooring apply` and "
        "Argo CD's tenants project take only Mooring's kinds): cluster-wide objects are the "
        "platform team's, and workloads belong in the team's own repository, judged by "
        "`mooring check`",
        ("kind",),
        document=document,
    )


def _metadata(document: Document, kind: str) -> list[Finding]:
    metadata = document.obj.get("metadata")
    if not isinstance(metadata, dict):
        return []  # the schema check says so
    findings = [
        Finding(
            "metadata-field",
            f"metadata.{key} is not written in Git (the API server and controllers set such "
            f"fields); a {kind} takes only {', '.join(METADATA)} in metadata: remove it",
            ("metadata", key),
            document=document,
        )
        for key in metadata
        if key not in METADATA
    ]
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        findings += [
            Finding(
                "reserved-annotation",
                f"annotation {key} is the operator's own bookkeeping (kopf's state); "
                "written in Git it would change what the operator believes it has done: "
                "remove it",
                ("metadata", "annotations", key),
                document=document,
            )
            for key in annotations
            if str(key).startswith(f"{KOPF_PREFIX}/")
        ]
    if SCOPE.get(kind) == "Cluster" and "namespace" in metadata:
        findings.append(
            Finding(
                "namespace-on-cluster-kind",
                f"a {kind} is cluster-scoped and has no namespace: remove metadata.namespace",
                ("metadata", "namespace"),
                document=document,
            )
        )
    return findings
