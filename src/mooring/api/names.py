"""Every label, annotation, finalizer and field-manager string Mooring writes, in one place.

Pure constants under the mooring.dev domain; nothing else in the code spells them.
"""

from __future__ import annotations

from typing import Final

DOMAIN: Final = "mooring.dev"
GROUP: Final = DOMAIN
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

FIELD_MANAGER: Final = "mooring"
# Where Mooring itself runs (the operator, the platform's own objects); always reserved,
# never a tenant's.
SYSTEM_NAMESPACE: Final = "mooring-system"

LABEL_TENANT: Final = f"{DOMAIN}/tenant"
LABEL_ENVIRONMENT: Final = f"{DOMAIN}/environment"
LABEL_COST_CENTER: Final = f"{DOMAIN}/cost-center"
LABEL_MANAGED_BY: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "mooring"
LABEL_COMPONENT: Final = f"{DOMAIN}/component"
LABEL_DATABASE: Final = f"{DOMAIN}/database"
# On a tenant namespace, kept by the operator from its GuardrailContext: some rule of a
# target has a warn or audit mode there (mooring.dev/guardrails-pods-warn: "true"). The
# warn and audit policies are bound by it, so a namespace that only enforces does not pay
# for evaluating them on every request (core.policy.admission.mode_labels).
LABEL_GUARDRAILS_PREFIX: Final = f"{DOMAIN}/guardrails-"

FINALIZER: Final = f"{DOMAIN}/finalizer"
ANNOTATION_ROTATE: Final = f"{DOMAIN}/rotate-password"
# On namespaces, which carry no ownerReference: the UID of the Tenant that made them.
ANNOTATION_TENANT_UID: Final = f"{DOMAIN}/tenant-uid"
# On a namespace Mooring no longer wants but keeps because it holds data: why.
ANNOTATION_RETAINED: Final = f"{DOMAIN}/retained"
# On a kept namespace that a Tenant adopted (spec.adopt): the UID of the deleted Tenant it
# came from, for the record.
ANNOTATION_ADOPTED_FROM: Final = f"{DOMAIN}/adopted-from"
# On each tenant namespace's ResourceQuota: the namespace of the tenant's TenantView, the
# copy of the Tenant its members may read (core/render/view.py).
ANNOTATION_TENANT_VIEW: Final = f"{DOMAIN}/tenant-view"

# kopf keeps its progress and diff base under our domain, not zalando.org; in a subdomain of
# its own, because kopf ignores changes to annotations under its prefix, and people's
# annotations (mooring.dev/rotate-password) must be seen. Its finalizer is FINALIZER.
KOPF_PREFIX: Final = f"kopf.{DOMAIN}"
KOPF_DIFF_BASE: Final = f"{KOPF_PREFIX}/last-handled-configuration"
# Where kopf keeps its diff base and progress now (operator/kopf_state.py): status.kopf.
KOPF_STATUS: Final = "kopf"

# Grafana's dashboard sidecar (kiwigrid k8s-sidecar, as in the Grafana Helm chart) loads
# ConfigMaps with this label, into the folder the annotation names.
LABEL_GRAFANA_DASHBOARD: Final = "grafana_dashboard"
ANNOTATION_GRAFANA_FOLDER: Final = "grafana_folder"

# Labels the local control plane puts on its fake nodes.
KWOK_NODE_ANNOTATION: Final = "kwok.x-k8s.io/node"
KWOK_NODE_VALUE: Final = "fake"
