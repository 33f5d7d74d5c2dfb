"""Pure: the Kubernetes objects of one Database, and the admission policy for all of them.

- every plan: the binding Secret (Service Binding spec), owned by the Database;
- shared: a NetworkPolicy letting the namespace's pods reach the shared server, and, with
  a backup schedule, a CronJob running pg_dump onto a volume;
- dedicated: a StatefulSet with its volume, headless and client Services, a NetworkPolicy
  admitting only the tenant's namespaces, a PodDisruptionBudget, the init script; or,
  where CloudNativePG is installed, a Cluster (and a ScheduledBackup).

Children carry `mooring.dev/database` but not `mooring.dev/tenant`: the tenant reconcile
prunes what carries its tenant label and it did not render, and these are not its own.
Passwords come in as values; nothing here draws randomness.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from typing import Any

from mooring.api import names
from mooring.api.database import Database
from mooring.api.platform import DatabaseServer, DedicatedSettings
from mooring.core.database import POSTGRES_PORT, SECRET_TYPE, secret_name

KubeObject = dict[str, Any]
POSTGRES_UID = 999  # the postgres user of the official image
DATA_DIR = "/var/lib/postgresql/data"
BACKUP_DIR = "/backup"
CNPG_API = "postgresql.cnpg.io/v1"
POLICY_NAME = "mooring-databases-in-tenant-namespaces"


@dataclass(frozen=True)
class Owner:
    """The Database the objects belong to (ownerReferences need its UID)."""

    name: str
    uid: str


def encode(values: dict[str, str]) -> dict[str, str]:
    """A Secret's `data` (base64): with server-side apply, each key is then owned and kept
    exactly as rendered (stringData is write-only and merges badly)."""
    return {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}


def labels(db: Database) -> dict[str, str]:
    return {
        names.LABEL_MANAGED_BY: names.MANAGED_BY,
        names.LABEL_DATABASE: db.name,
        "app.kubernetes.io/name": "postgresql",
        "app.kubernetes.io/instance": db.name,
        "app.kubernetes.io/part-of": "mooring",
    }


def selector(db: Database) -> dict[str, str]:
    """The dedicated server's pods."""
    return {names.LABEL_DATABASE: db.name, "app.kubernetes.io/name": "postgresql"}


def metadata(db: Database, name: str, owner: Owner | None, component: str) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": db.namespace,
        "labels": {**labels(db), names.LABEL_COMPONENT: component},
    }
    if owner is not None:
        meta["ownerReferences"] = [
            {
                "apiVersion": names.API_VERSION,
                "kind": "Database",
                "name": owner.name,
                "uid": owner.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return meta


# -- every plan --------------------------------------------------------------------------------


def binding_secret(db: Database, owner: Owner | None, data: dict[str, str]) -> KubeObject:
    """The Secret an application binds to (envFrom, or mounted as files)."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(db, secret_name(db.name), owner, "binding"),
        "type": SECRET_TYPE,
        "data": encode(data),
    }


# -- shared ------------------------------------------------------------------------------------


def shared_egress(db: Database, server: DatabaseServer, owner: Owner | None) -> KubeObject | None:
    """Let the namespace's pods reach the shared server through a default-deny egress.

    Possible when the server's host is an address, or its pods are named by `peer`.
    """
    peer: dict[str, Any]
    if server.peer is not None:
        peer = {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": server.peer.namespace}
            },
            "podSelector": {"matchLabels": dict(server.peer.pod_labels)},
        }
    else:
        try:
            address = ipaddress.ip_address(server.host)
        except ValueError:
            return None
        peer = {"ipBlock": {"cidr": f"{address}/{address.max_prefixlen}"}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(db, f"{db.name}-database-egress", owner, "network"),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [peer], "ports": [{"protocol": "TCP", "port": server.port}]}],
        },
    }


def backup_volume(db: Database) -> KubeObject | None:
    """The volume dumps go to. Never owned by the Database: backups outlive it, and only a
    Delete policy removes them (the service does it, by decision)."""
    if db.spec.backup is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata(db, f"{db.name}-backup", None, "backup"),
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": db.spec.backup.storage}},
        },
    }


def backup_cronjob(db: Database, image: str, owner: Owner | None) -> KubeObject | None:
    """pg_dump on the schedule, with the binding's credentials; keeps the newest `keep`."""
    if db.spec.backup is None:
        return None
    keep = db.spec.backup.keep
    script = (
        "set -eu\n"
        f'file="{BACKUP_DIR}/{db.name}-$(date -u +%Y%m%dT%H%M%SZ).dump"\n'
        'pg_dump --format=custom --file="$file.partial" && mv "$file.partial" "$file"\n'
        f"ls -1t {BACKUP_DIR}/*.dump | tail -n +{keep + 1} | xargs -r rm --\n"
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(db, f"{db.name}-backup", owner, "backup"),
        "spec": {
            "schedule": db.spec.backup.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 1,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "spec": {
                    "backoffLimit": 2,
                    "template": {
                        "metadata": {"labels": {**labels(db), names.LABEL_COMPONENT: "backup"}},
                        "spec": {
                            "restartPolicy": "OnFailure",
                            "securityContext": _pod_security(),
                            "containers": [
                                {
                                    "name": "pg-dump",
                                    "image": image,
                                    "imagePullPolicy": "Always",
                                    "command": ["sh", "-c", script],
                                    "envFrom": [{"secretRef": {"name": secret_name(db.name)}}],
                                    "securityContext": _container_security(),
                                    "resources": {
                                        "requests": {"cpu": "100m", "memory": "128Mi"},
                                        "limits": {"cpu": "500m", "memory": "256Mi"},
                                    },
                                    "volumeMounts": [{"name": "backup", "mountPath": BACKUP_DIR}],
                                }
                            ],
                            "volumes": [
                                {
                                    "name": "backup",
                                    "persistentVolumeClaim": {"claimName": f"{db.name}-backup"},
                                }
                            ],
                        },
                    },
                }
            },
        },
    }


def render_shared(
    db: Database,
    server: DatabaseServer,
    owner: Owner | None,
    binding: dict[str, str],
    settings: DedicatedSettings,
) -> list[KubeObject]:
    """Every object of a shared-plan Database, in apply order."""
    image = settings.images.get(db.spec.version, "")
    objects = [
        binding_secret(db, owner, binding),
        shared_egress(db, server, owner),
        backup_volume(db),
        backup_cronjob(db, image, owner) if image else None,
    ]
    return [o for o in objects if o is not None]


# -- dedicated ---------------------------------------------------------------------------------


def dedicated_names(db: Database) -> tuple[str, str]:
    """Database and login role on a dedicated server (it holds nothing else)."""
    return db.name, db.name


def dedicated_host(db: Database) -> str:
    return f"{db.name}.{db.namespace}.svc"


def superuser_secret(db: Database, owner: Owner | None, password: str) -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(db, f"{db.name}-superuser", owner, "superuser"),
        "type": "kubernetes.io/basic-auth",
        "data": encode({"username": "postgres", "password": password}),
    }


# Run once by the image's entrypoint on an empty volume, as the superuser. Values come in
# through psql variables, which psql quotes (:"name" as an identifier, :'text' as a
# literal): nothing is pasted into SQL text.
INIT_SCRIPT = """#!/bin/sh
set -eu
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \\
  -v app_user="$APP_USERNAME" -v app_password="$APP_PASSWORD" -v app_db="$APP_DATABASE" \\
  -v connection_limit="$APP_CONNECTION_LIMIT" <<'SQL'
CREATE ROLE :"app_user" LOGIN PASSWORD :'app_password';
CREATE DATABASE :"app_db" OWNER :"app_user";
ALTER DATABASE :"app_db" CONNECTION LIMIT :connection_limit;
REVOKE CONNECT, TEMPORARY ON DATABASE :"app_db" FROM PUBLIC;
SQL
for extension in $APP_EXTENSIONS; do
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$APP_DATABASE" \\
    -v extension="$extension" <<'SQL'
CREATE EXTENSION IF NOT EXISTS :"extension";
SQL
done
"""


def init_config_map(db: Database, owner: Owner | None) -> KubeObject:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(db, f"{db.name}-init", owner, "init"),
        "data": {"10-mooring.sh": INIT_SCRIPT},
    }


def init_environment(db: Database) -> dict[str, str]:
    """What the init script reads besides the credentials (also used to test it)."""
    return {
        "APP_CONNECTION_LIMIT": str(db.spec.connection_limit),
        # Extension names match ^[a-z][a-z0-9_-]*$: no shell quoting to worry about.
        "APP_EXTENSIONS": " ".join(db.spec.extensions),
    }


def _pod_security() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": POSTGRES_UID,
        "runAsGroup": POSTGRES_UID,
        "fsGroup": POSTGRES_UID,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _container_security() -> dict[str, Any]:
    return {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}


def statefulset(db: Database, settings: DedicatedSettings, owner: Owner | None) -> KubeObject:
    resources = db.spec.resources
    cpu = resources.cpu if resources else "500m"
    memory = resources.memory if resources else "512Mi"
    binding = secret_name(db.name)

    def from_binding(key: str) -> dict[str, Any]:
        return {"secretKeyRef": {"name": binding, "key": key}}

    env = [
        {"name": "POSTGRES_USER", "value": "postgres"},
        {
            "name": "POSTGRES_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": f"{db.name}-superuser", "key": "password"}},
        },
        {"name": "PGDATA", "value": f"{DATA_DIR}/pgdata"},
        {"name": "APP_USERNAME", "valueFrom": from_binding("username")},
        {"name": "APP_PASSWORD", "valueFrom": from_binding("password")},
        {"name": "APP_DATABASE", "valueFrom": from_binding("database")},
        *({"name": k, "value": v} for k, v in init_environment(db).items()),
    ]
    claim: dict[str, Any] = {
        "metadata": {"name": "data", "labels": labels(db)},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": db.spec.storage}},
        },
    }
    if settings.storage_class:
        claim["spec"]["storageClassName"] = settings.storage_class
    probe = {
        "exec": {"command": ["pg_isready", "--username=postgres", "--host=127.0.0.1"]},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(db, db.name, owner, "server"),
        "spec": {
            "serviceName": f"{db.name}-headless",
            "replicas": 1,
            "selector": {"matchLabels": selector(db)},
            # The data volume outlives the StatefulSet unless the Database says Delete.
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Delete" if db.spec.deletion_policy == "Delete" else "Retain",
                "whenScaled": "Retain",
            },
            "template": {
                "metadata": {"labels": {**labels(db), names.LABEL_COMPONENT: "server"}},
                "spec": {
                    "securityContext": _pod_security(),
                    "terminationGracePeriodSeconds": 60,
                    "containers": [
                        {
                            "name": "postgres",
                            "image": settings.images[db.spec.version],
                            # The tenant namespace's guardrails ask for it (image-pull-policy).
                            "imagePullPolicy": "Always",
                            "env": env,
                            "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT}],
                            "readinessProbe": probe,
                            "livenessProbe": {**probe, "failureThreshold": 6},
                            "resources": {
                                "requests": {"cpu": cpu, "memory": memory},
                                "limits": {"cpu": cpu, "memory": memory},
                            },
                            "securityContext": _container_security(),
                            "volumeMounts": [
                                {"name": "data", "mountPath": DATA_DIR},
                                {"name": "init", "mountPath": "/docker-entrypoint-initdb.d"},
                                {"name": "run", "mountPath": "/var/run/postgresql"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "init", "configMap": {"name": f"{db.name}-init"}},
                        {"name": "run", "emptyDir": {}},
                    ],
                },
            },
            "volumeClaimTemplates": [claim],
        },
    }


def services(db: Database, owner: Owner | None) -> list[KubeObject]:
    port = {"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(db, f"{db.name}-headless", owner, "server"),
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": True,
                "selector": selector(db),
                "ports": [port],
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(db, db.name, owner, "server"),
            "spec": {"type": "ClusterIP", "selector": selector(db), "ports": [port]},
        },
    ]


def server_network_policy(db: Database, tenant: str, owner: Owner | None) -> KubeObject:
    """Only the tenant's own namespaces reach the server, and only on PostgreSQL's port."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(db, f"{db.name}-database", owner, "network"),
        "spec": {
            "podSelector": {"matchLabels": selector(db)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"namespaceSelector": {"matchLabels": {names.LABEL_TENANT: tenant}}}],
                    "ports": [{"protocol": "TCP", "port": POSTGRES_PORT}],
                }
            ],
        },
    }


def disruption_budget(db: Database, owner: Owner | None) -> KubeObject:
    # One replica: a voluntary eviction (a node drain) waits for a person, never takes the
    # only server down by itself.
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(db, db.name, owner, "server"),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": selector(db)}},
    }


def render_dedicated(
    db: Database,
    tenant: str,
    settings: DedicatedSettings,
    owner: Owner | None,
    binding: dict[str, str],
    superuser_password: str,
) -> list[KubeObject]:
    """Every object of a dedicated server (a StatefulSet), in apply order."""
    objects = [
        binding_secret(db, owner, binding),
        superuser_secret(db, owner, superuser_password),
        init_config_map(db, owner),
        *services(db, owner),
        server_network_policy(db, tenant, owner),
        disruption_budget(db, owner),
        statefulset(db, settings, owner),
        backup_volume(db),
        backup_cronjob(db, settings.images[db.spec.version], owner),
    ]
    return [o for o in objects if o is not None]


# -- dedicated, on CloudNativePG ---------------------------------------------------------------


def quote_ident(identifier: str) -> str:
    """SQL identifier quoting for SQL that travels inside a manifest (no driver there)."""
    if "\x00" in identifier:
        raise ValueError("an identifier cannot contain NUL")
    return '"' + identifier.replace('"', '""') + '"'


def cnpg_app_secret(db: Database, owner: Owner | None, binding: dict[str, str]) -> KubeObject:
    """CloudNativePG reads the owner's credentials from a basic-auth Secret."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(db, f"{db.name}-app", owner, "credentials"),
        "type": "kubernetes.io/basic-auth",
        "data": encode({"username": binding["username"], "password": binding["password"]}),
    }


def cnpg_cluster(db: Database, settings: DedicatedSettings, owner: Owner | None) -> KubeObject:
    database, role = dedicated_names(db)
    resources = db.spec.resources
    cpu = resources.cpu if resources else "500m"
    memory = resources.memory if resources else "512Mi"
    post_init = [
        f"ALTER DATABASE {quote_ident(database)} CONNECTION LIMIT {db.spec.connection_limit}",
        f"REVOKE CONNECT, TEMPORARY ON DATABASE {quote_ident(database)} FROM PUBLIC",
    ]
    storage: dict[str, Any] = {"size": db.spec.storage}
    if settings.storage_class:
        storage["storageClass"] = settings.storage_class
    spec: dict[str, Any] = {
        "instances": 1,
        "imageName": settings.images[db.spec.version],
        # Its pods are judged by the tenant namespace's guardrails (image-pull-policy).
        "imagePullPolicy": "Always",
        "storage": storage,
        "resources": {
            "requests": {"cpu": cpu, "memory": memory},
            "limits": {"cpu": cpu, "memory": memory},
        },
        "enablePDB": True,
        "bootstrap": {
            "initdb": {
                "database": database,
                "owner": role,
                "secret": {"name": f"{db.name}-app"},
                "postInitSQL": post_init,
                "postInitApplicationSQL": [
                    f"CREATE EXTENSION IF NOT EXISTS {quote_ident(e)}" for e in db.spec.extensions
                ],
            }
        },
    }
    if db.spec.backup is not None:
        spec["backup"] = {"volumeSnapshot": {"online": True}}
    return {
        "apiVersion": CNPG_API,
        "kind": "Cluster",
        "metadata": metadata(db, db.name, owner, "server"),
        "spec": spec,
    }


def cnpg_scheduled_backup(db: Database, owner: Owner | None) -> KubeObject | None:
    if db.spec.backup is None:
        return None
    schedule = db.spec.backup.schedule
    if not schedule.startswith("@"):
        schedule = f"0 {schedule}"  # CloudNativePG's cron has a seconds field
    return {
        "apiVersion": CNPG_API,
        "kind": "ScheduledBackup",
        "metadata": metadata(db, f"{db.name}-backup", owner, "backup"),
        "spec": {
            "schedule": schedule,
            "cluster": {"name": db.name},
            "method": "volumeSnapshot",
            "backupOwnerReference": "none",
            "immediate": False,
        },
    }


def render_cnpg(
    db: Database,
    tenant: str,
    settings: DedicatedSettings,
    owner: Owner | None,
    binding: dict[str, str],
) -> list[KubeObject]:
    """A dedicated server run by CloudNativePG, in apply order."""
    objects = [
        binding_secret(db, owner, binding),
        cnpg_app_secret(db, owner, binding),
        server_network_policy(db, tenant, owner),
        cnpg_cluster(db, settings, owner),
        cnpg_scheduled_backup(db, owner),
    ]
    return [o for o in objects if o is not None]


def cnpg_host(db: Database) -> str:
    # CloudNativePG's read-write Service.
    return f"{db.name}-rw.{db.namespace}.svc"


# -- admission -----------------------------------------------------------------------------


def admission_policy() -> list[KubeObject]:
    """A Database is admitted only in a tenant namespace (checked inside the API server)."""
    part_of = {"app.kubernetes.io/part-of": "mooring", names.LABEL_MANAGED_BY: names.MANAGED_BY}
    tenant, managed = names.LABEL_TENANT, names.LABEL_MANAGED_BY
    expression = (
        "namespaceObject != null && has(namespaceObject.metadata.labels) && "
        f"'{tenant}' in namespaceObject.metadata.labels && "
        f"'{managed}' in namespaceObject.metadata.labels && "
        f"namespaceObject.metadata.labels['{managed}'] == '{names.MANAGED_BY}'"
    )
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": POLICY_NAME, "labels": part_of},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [names.GROUP],
                            "apiVersions": [names.VERSION],
                            "operations": ["CREATE"],
                            "resources": ["databases"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": expression,
                        "messageExpression": (
                            "'namespace ' + request.namespace + ' is not a tenant namespace "
                            f"(it lacks the labels {tenant} and {managed}={names.MANAGED_BY}); "
                            "create the Database in one of your tenant\\'s namespaces'"
                        ),
                        "reason": "Forbidden",
                    }
                ],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": POLICY_NAME, "labels": part_of},
            "spec": {"policyName": POLICY_NAME, "validationActions": ["Deny"]},
        },
    ]
