"""The platform repository `mooring init` writes: every file as text, by path. Pure.

Layout (docs/gitops.md explains it for the people who work in it):

    bootstrap/        applied once by hand (`kubectl apply -k bootstrap/`), then Argo CD keeps
                      it: the root Application (app of apps), the AppProjects `platform` and
                      `tenants`, the ApplicationSets that make one platform per cluster and one
                      Application per team, Argo CD's own cluster, argocd-cm keys
    platform/         the addons (pinned Helm charts, sync waves), Mooring, the PlatformConfig's
                      Application: the kustomize base of every cluster's app of apps
    environments/     base/ (the PlatformConfig) and dev|staging|prod overlays: only what
                      differs per environment, as kustomize patches
    tenants/          one file per team: a Tenant, its Databases, its PolicyExceptions
    .github/          the pull-request workflow and CODEOWNERS

Scaling: a team is one file (tenants/<team>.yaml), whatever the number of clusters; an
environment is one overlay folder; a cluster is one Argo CD cluster Secret with labels. Nothing
is copied per team or per cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from mooring import __version__
from mooring.api.names import API_VERSION, LABEL_COMPONENT
from mooring.api.yamldump import dump
from mooring.gitops import catalog
from mooring.gitops.catalog import Addon, Profile
from mooring.gitops.health import argocd_cm_data

ARGO_API = "argoproj.io/v1alpha1"
KUSTOMIZE_API = "kustomize.config.k8s.io/v1beta1"
IN_CLUSTER = "https://kubernetes.default.svc"
ENVIRONMENTS = ("dev", "staging", "prod")
# Labels on Argo CD cluster Secrets: which environment overlay the cluster runs, whether it
# hosts tenants. Adding a cluster is adding a Secret with these labels (docs/gitops.md).
LABEL_CLUSTER_ENVIRONMENT = "mooring.dev/environment"
LABEL_CLUSTER_TENANTS = "mooring.dev/tenants"
# The Application resources finalizer, with background propagation: when a team's file
# leaves Git, the Tenant is deleted without taking its children first, so Mooring's finalizer
# decides what is retained (foreground deletion would let the garbage collector delete the
# quota and network policies of a namespace Mooring keeps for its data).
RESOURCES_FINALIZER = "resources-finalizer.argocd.argoproj.io/background"
TENANT_SYNC_OPTIONS = ("PrunePropagationPolicy=background", "PruneLast=true")

TenantsDelivery = Literal["applicationset", "application"]


@dataclass(frozen=True)
class Settings:
    """What `mooring init` asks for."""

    profile: Profile = "generic"
    repo_url: str = "https://git.example.com/platform/platform.git"
    revision: str = "main"
    # Mooring's own manifests (its deploy/ folder) at a released revision.
    mooring_repo: str = "https://github.com/mooring-dev/mooring.git"
    mooring_path: str = "deploy"
    mooring_revision: str = f"v{__version__}"
    # Argo CD's own cluster: its name and environment (it hosts tenants too, by default).
    cluster_environment: str = "dev"
    argocd_namespace: str = "argocd"
    tenants: TenantsDelivery = "applicationset"
    platform_team: str = "@platform-team"
    extra: dict[str, str] = field(default_factory=dict)  # more files (path -> text)


def render_repository(settings: Settings) -> dict[str, str]:
    """Pure: every file of a new platform repository, by path relative to its root."""
    s = settings
    addons = catalog.addons_for(s.profile)
    files: dict[str, str] = {
        "README.md": _readme(s, addons),
        "bootstrap/kustomization.yaml": _kustomization(
            [
                "projects.yaml",
                "root.yaml",
                "platform.yaml",
                "tenants.yaml",
                "clusters/in-cluster.yaml",
                "argocd-cm.yaml",
            ],
            namespace=s.argocd_namespace,
            comment="Applied once by hand (`kubectl apply -k bootstrap/`); then the root "
            "Application\nkeeps it in sync with Git.",
        ),
        "bootstrap/projects.yaml": _dump(
            [platform_project(s, addons), tenants_project(s)],
            "The AppProjects: `platform` may create anything anywhere (the platform team's "
            "reviewed changes);\n`tenants` only Mooring's kinds, only outside the system "
            "namespaces (a team's pull request\ncannot bring a ClusterRoleBinding through "
            "Argo CD).",
        ),
        "bootstrap/root.yaml": _dump(
            [root_application(s)],
            "The root Application (app of apps): keeps bootstrap/ itself in sync. It does not "
            "prune:\nremoving a file here never deletes a platform by accident.",
        ),
        "bootstrap/platform.yaml": _dump(
            [platform_applicationset(s)],
            "One app of apps per cluster: every Argo CD cluster Secret labelled "
            f"{LABEL_CLUSTER_ENVIRONMENT}\ngets the addons, Mooring and the PlatformConfig of "
            "its environment (environments/<env>/).",
        ),
        "bootstrap/tenants.yaml": _dump(
            [
                tenants_applicationset(s)
                if s.tenants == "applicationset"
                else tenants_application(s)
            ],
            _TENANTS_COMMENT[s.tenants],
        ),
        "bootstrap/clusters/in-cluster.yaml": _dump(
            [cluster_secret("in-cluster", IN_CLUSTER, s.cluster_environment, s.argocd_namespace)],
            "Argo CD's own cluster, as a cluster Secret so that its labels choose its "
            "environment and\nwhether it hosts tenants. Other clusters: `argocd cluster add`, "
            'then label their Secret\n(docs/gitops.md, "Adding a cluster").',
        ),
        "bootstrap/argocd-cm.yaml": _dump(
            [argocd_cm(s.argocd_namespace)],
            "Keys merged into Argo CD's argocd-cm: health of Mooring's kinds (Lua) and "
            "ignoreDifferences.\nWith Argo CD's Helm chart, put the same keys under "
            "`configs.cm` instead.",
        ),
    }
    oci = [addon for addon in addons if addon.oci]
    if oci:
        files["bootstrap/repositories.yaml"] = _dump(
            [oci_repository(addon, s.argocd_namespace) for addon in oci],
            "Helm charts served from OCI registries: Argo CD needs them declared.",
        )
        files["bootstrap/kustomization.yaml"] = files["bootstrap/kustomization.yaml"].replace(
            "- argocd-cm.yaml\n", "- argocd-cm.yaml\n- repositories.yaml\n"
        )
    files.update(_platform_files(s, addons))
    files.update(_environment_files(s, addons))
    files["tenants/README.md"] = _TENANTS_README
    files[".github/workflows/pull-request.yaml"] = pull_request_workflow(s)
    files[".github/workflows/team-check.yaml"] = team_check_workflow(s)
    files[".github/CODEOWNERS"] = _codeowners(s)
    files.update(s.extra)
    return dict(sorted(files.items()))


def write_files(directory: Path, files: dict[str, str]) -> None:
    """Side effect: write `files` (relative paths) under `directory`."""
    for relative, text in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# -- Argo CD objects --------------------------------------------------------------------------


def platform_project(s: Settings, addons: list[Addon]) -> dict[str, Any]:
    repos = sorted({s.repo_url, s.mooring_repo, *(addon.repo_url for addon in addons)})
    return {
        "apiVersion": ARGO_API,
        "kind": "AppProject",
        "metadata": {"name": "platform", "namespace": s.argocd_namespace},
        "spec": {
            "description": "The platform team's: addons, Mooring, the PlatformConfig",
            "sourceRepos": repos,
            "destinations": [{"server": "*", "namespace": "*"}],
            "clusterResourceWhitelist": [{"group": "*", "kind": "*"}],
            "namespaceResourceWhitelist": [{"group": "*", "kind": "*"}],
        },
    }


# Namespaces a tenant file may never write to (Argo CD deny patterns).
SYSTEM_NAMESPACES = ("kube-*", "default", "argocd", "mooring-system", "openshift*")


def tenants_project(s: Settings) -> dict[str, Any]:
    group = API_VERSION.split("/")[0]
    return {
        "apiVersion": ARGO_API,
        "kind": "AppProject",
        "metadata": {"name": "tenants", "namespace": s.argocd_namespace},
        "spec": {
            "description": "The teams' files: Mooring's kinds only, never system namespaces",
            "sourceRepos": [s.repo_url],
            "destinations": [
                *({"server": "*", "namespace": f"!{pattern}"} for pattern in SYSTEM_NAMESPACES),
                {"server": "*", "namespace": "*"},
            ],
            "clusterResourceWhitelist": [{"group": group, "kind": "Tenant"}],
            "namespaceResourceWhitelist": [
                {"group": group, "kind": "Database"},
                {"group": group, "kind": "PolicyException"},
            ],
        },
    }


def root_application(s: Settings) -> dict[str, Any]:
    return {
        "apiVersion": ARGO_API,
        "kind": "Application",
        "metadata": {"name": "root", "namespace": s.argocd_namespace},
        "spec": {
            "project": "platform",
            "source": {"repoURL": s.repo_url, "targetRevision": s.revision, "path": "bootstrap"},
            "destination": {"server": IN_CLUSTER, "namespace": s.argocd_namespace},
            "syncPolicy": {"automated": {"selfHeal": True}},
        },
    }


def _suffix() -> str:
    # Argo CD's own cluster keeps plain names (tenant-payments); others get their name added.
    return '{{ if ne .name "in-cluster" }}-{{ .nameNormalized }}{{ end }}'


def platform_applicationset(s: Settings) -> dict[str, Any]:
    environment = f'{{{{ index .metadata.labels "{LABEL_CLUSTER_ENVIRONMENT}" }}}}'
    # Applied by Argo CD to the environment's kustomize build, per cluster: the children go
    # to this cluster, carry its name, and read this environment's PlatformConfig.
    patches = [
        {
            "target": {"group": "argoproj.io", "kind": "Application"},
            "patch": _json_patch([("replace", "/spec/destination/server", "{{ .server }}")]),
        },
        {
            "target": {"group": "argoproj.io", "kind": "Application", "name": "platform-config"},
            "patch": _json_patch(
                [("replace", "/spec/source/path", f"environments/{environment}/config")]
            ),
        },
    ]
    return {
        "apiVersion": ARGO_API,
        "kind": "ApplicationSet",
        "metadata": {"name": "platform", "namespace": s.argocd_namespace},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [
                {
                    "clusters": {
                        "selector": {
                            "matchExpressions": [
                                {
                                    "key": LABEL_CLUSTER_ENVIRONMENT,
                                    "operator": "In",
                                    "values": list(ENVIRONMENTS),
                                }
                            ]
                        }
                    }
                }
            ],
            "template": {
                "metadata": {
                    "name": "platform" + _suffix(),
                    "labels": {LABEL_COMPONENT: "platform"},
                },
                "spec": {
                    "project": "platform",
                    "source": {
                        "repoURL": s.repo_url,
                        "targetRevision": s.revision,
                        "path": f"environments/{environment}",
                        "kustomize": {"nameSuffix": _suffix(), "patches": patches},
                    },
                    "destination": {"server": IN_CLUSTER, "namespace": s.argocd_namespace},
                    "syncPolicy": {"automated": {"prune": True, "selfHeal": True}},
                },
            },
        },
    }


def _tenant_sync_policy() -> dict[str, Any]:
    return {
        "automated": {"prune": True, "selfHeal": True},
        "syncOptions": list(TENANT_SYNC_OPTIONS),
        # A team's first file holds its Tenant and Databases in the Tenant's namespaces: the
        # Databases are refused until Mooring has made those, a second or two later.
        "retry": {"limit": 5, "backoff": {"duration": "2s", "factor": 2, "maxDuration": "1m"}},
    }


def tenants_applicationset(s: Settings) -> dict[str, Any]:
    """One Application per team file and cluster that hosts tenants."""
    return {
        "apiVersion": ARGO_API,
        "kind": "ApplicationSet",
        "metadata": {"name": "tenants", "namespace": s.argocd_namespace},
        "spec": {
            "goTemplate": True,
            "goTemplateOptions": ["missingkey=error"],
            "generators": [
                {
                    "matrix": {
                        "generators": [
                            {
                                "clusters": {
                                    "selector": {
                                        "matchLabels": {LABEL_CLUSTER_TENANTS: "true"},
                                    }
                                }
                            },
                            {
                                "git": {
                                    "repoURL": s.repo_url,
                                    "revision": s.revision,
                                    "files": [{"path": "tenants/*.yaml"}],
                                }
                            },
                        ]
                    }
                }
            ],
            "template": {
                "metadata": {
                    "name": 'tenant-{{ trimSuffix ".yaml" .path.filename }}' + _suffix(),
                    "labels": {LABEL_COMPONENT: "tenant"},
                    "annotations": {
                        # Only a change to this file refreshes (and regenerates) this team's
                        # Application; the other teams' manifests stay cached.
                        "argocd.argoproj.io/manifest-generate-paths": "{{ .path.filename }}",
                    },
                    "finalizers": [RESOURCES_FINALIZER],
                },
                "spec": {
                    "project": "tenants",
                    "source": {
                        "repoURL": s.repo_url,
                        "targetRevision": s.revision,
                        "path": "tenants",
                        "directory": {"include": "{{ .path.filename }}"},
                    },
                    "destination": {"server": "{{ .server }}"},
                    "syncPolicy": _tenant_sync_policy(),
                },
            },
        },
    }


def tenants_application(s: Settings) -> dict[str, Any]:
    """One Application for the whole tenants/ folder (the alternative the benchmark weighs)."""
    return {
        "apiVersion": ARGO_API,
        "kind": "Application",
        "metadata": {
            "name": "tenants",
            "namespace": s.argocd_namespace,
            "labels": {LABEL_COMPONENT: "tenant"},
            "finalizers": [RESOURCES_FINALIZER],
        },
        "spec": {
            "project": "tenants",
            "source": {
                "repoURL": s.repo_url,
                "targetRevision": s.revision,
                "path": "tenants",
                "directory": {"include": "*.yaml"},
            },
            "destination": {"server": IN_CLUSTER},
            "syncPolicy": _tenant_sync_policy(),
        },
    }


_TENANTS_COMMENT = {
    "applicationset": (
        "One Application per team (tenants/<team>.yaml) on every cluster labelled "
        f"{LABEL_CLUSTER_TENANTS}=true.\nA team sees its own health and sync errors; one "
        "team's broken file never blocks another's\nsync (docs/gitops.md says why this "
        "and not one Application for the folder)."
    ),
    "application": (
        "One Application for every team's file (tenants/*.yaml). One bad file fails the "
        "whole sync:\nprefer the ApplicationSet (mooring init --tenants applicationset)."
    ),
}


def cluster_secret(name: str, server: str, environment: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"cluster-{name}",
            "namespace": namespace,
            "labels": {
                "argocd.argoproj.io/secret-type": "cluster",
                LABEL_CLUSTER_ENVIRONMENT: environment,
                LABEL_CLUSTER_TENANTS: "true",
            },
        },
        "type": "Opaque",
        "stringData": {"name": name, "server": server},
    }


def oci_repository(addon: Addon, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": f"repository-{addon.name}",
            "namespace": namespace,
            "labels": {"argocd.argoproj.io/secret-type": "repository"},
        },
        "type": "Opaque",
        "stringData": {
            "type": "helm",
            "name": addon.name,
            "url": addon.repo_url,
            "enableOCI": "true",
        },
    }


def argocd_cm(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "argocd-cm",
            "namespace": namespace,
            "labels": {"app.kubernetes.io/part-of": "argocd"},
        },
        "data": argocd_cm_data(),
    }


def addon_application(s: Settings, addon: Addon) -> dict[str, Any]:
    source: dict[str, Any] = {
        "repoURL": addon.repo_url,
        "chart": addon.chart,
        "targetRevision": addon.version,
        "helm": {"releaseName": addon.name},
    }
    values = addon.values_for(s.profile)
    if values:
        source["helm"]["valuesObject"] = values
    return {
        "apiVersion": ARGO_API,
        "kind": "Application",
        "metadata": {
            "name": addon.name,
            "annotations": {"argocd.argoproj.io/sync-wave": str(addon.wave)},
            "labels": {LABEL_COMPONENT: "addon"},
            "finalizers": ["resources-finalizer.argocd.argoproj.io"],
        },
        "spec": {
            "project": "platform",
            "source": source,
            "destination": {"server": IN_CLUSTER, "namespace": addon.namespace},
            "syncPolicy": {
                "automated": {"prune": True, "selfHeal": True},
                "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
            },
        },
    }


def mooring_application(s: Settings) -> dict[str, Any]:
    return {
        "apiVersion": ARGO_API,
        "kind": "Application",
        "metadata": {
            "name": "mooring",
            "annotations": {"argocd.argoproj.io/sync-wave": str(catalog.WAVE_MOORING)},
            "labels": {LABEL_COMPONENT: "mooring"},
        },
        "spec": {
            "project": "platform",
            "source": {
                "repoURL": s.mooring_repo,
                "targetRevision": s.mooring_revision,
                "path": s.mooring_path,
            },
            "destination": {"server": IN_CLUSTER, "namespace": "mooring-system"},
            "syncPolicy": {
                # Never prune Mooring's CRDs: that would delete every Tenant and Database.
                "automated": {"selfHeal": True},  # no prune
                "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"],
            },
        },
    }


def config_application(s: Settings) -> dict[str, Any]:
    return {
        "apiVersion": ARGO_API,
        "kind": "Application",
        "metadata": {
            "name": "platform-config",
            "annotations": {"argocd.argoproj.io/sync-wave": str(catalog.WAVE_CONFIG)},
            "labels": {LABEL_COMPONENT: "config"},
        },
        "spec": {
            "project": "platform",
            "source": {
                "repoURL": s.repo_url,
                "targetRevision": s.revision,
                # Set per cluster by the `platform` ApplicationSet to its environment's overlay.
                "path": f"environments/{s.cluster_environment}/config",
            },
            "destination": {"server": IN_CLUSTER},
            "syncPolicy": {
                "automated": {"selfHeal": True},  # no prune
                "syncOptions": ["SkipDryRunOnMissingResource=true"],
            },
        },
    }


# -- platform/ and environments/ ---------------------------------------------------------------


def _platform_files(s: Settings, addons: list[Addon]) -> dict[str, str]:
    files: dict[str, str] = {}
    for addon in addons:
        files[f"platform/addons/{addon.name}.yaml"] = _dump(
            [addon_application(s, addon)],
            f"{addon.name}: {addon.description}.\nUpgrade: change targetRevision in a pull "
            'request (docs/gitops.md, "Upgrading an addon").',
        )
    if addons:
        files["platform/addons/kustomization.yaml"] = _kustomization(
            [f"{addon.name}.yaml" for addon in addons],
            comment="Third-party addons, pinned; each cluster's environment overlay includes "
            "this folder.",
        )
    files["platform/mooring/mooring.yaml"] = _dump(
        [mooring_application(s)],
        "Mooring itself (CRDs, roles, the operator) from its released manifests; sync wave "
        f"{catalog.WAVE_MOORING},\nafter the addons it can use and before the PlatformConfig.",
    )
    files["platform/mooring/platform-config.yaml"] = _dump(
        [config_application(s)],
        "The PlatformConfig of the cluster's environment (environments/<env>/config), "
        f"sync wave {catalog.WAVE_CONFIG}.",
    )
    files["platform/mooring/kustomization.yaml"] = _kustomization(
        ["mooring.yaml", "platform-config.yaml"]
    )
    return files


def platform_config(profile: Profile) -> dict[str, Any]:
    """The base PlatformConfig: tiers every environment shares."""
    spec: dict[str, Any] = {
        "defaultTier": "small",
        "tiers": {
            "small": {
                "quota": {"cpu": "2", "memory": "4Gi", "pods": 20, "storage": "20Gi"},
                "databases": {"count": 1, "storage": "5Gi"},
            },
            "medium": {
                "quota": {"cpu": "8", "memory": "16Gi", "pods": 60, "storage": "100Gi"},
                "podSecurity": ["restricted", "baseline"],
                "databases": {"count": 3, "storage": "50Gi"},
            },
            "large": {
                "quota": {"cpu": "32", "memory": "128Gi", "pods": 200, "storage": "500Gi"},
                "podSecurity": ["restricted", "baseline"],
                "databases": {"count": 10, "storage": "200Gi"},
            },
        },
        "guardrails": {"defaultMode": "enforce"},
    }
    if profile == "openshift":
        spec["dns"] = {
            "namespace": "openshift-dns",
            "podLabels": {"dns.operator.openshift.io/daemonset-dns": "default"},
        }
        spec["ingressController"] = {
            "namespace": "openshift-ingress",
            "podLabels": {
                "ingresscontroller.operator.openshift.io/deployment-ingresscontroller": "default"
            },
        }
    else:
        spec["dns"] = {"namespace": "kube-system", "podLabels": {"k8s-app": "kube-dns"}}
        spec["ingressController"] = {
            "namespace": "ingress-nginx",
            "podLabels": {"app.kubernetes.io/name": "ingress-nginx"},
        }
    return {
        "apiVersion": API_VERSION,
        "kind": "PlatformConfig",
        "metadata": {"name": "default"},
        "spec": spec,
    }


# What differs per environment in the PlatformConfig (merge patches over the base).
CONFIG_PATCHES: dict[str, dict[str, Any]] = {
    "dev": {
        "capacity": {"cpu": "64", "memory": "256Gi", "storage": "2Ti"},
        "guardrails": {"defaultMode": "warn"},
    },
    "staging": {"capacity": {"cpu": "128", "memory": "512Gi", "storage": "4Ti"}},
    "prod": {"capacity": {"cpu": "512", "memory": "2Ti", "storage": "20Ti"}},
}


def _environment_files(s: Settings, addons: list[Addon]) -> dict[str, str]:
    files = {
        "environments/base/platform.yaml": _dump(
            [platform_config(s.profile)],
            "The PlatformConfig every environment starts from; environments/<env>/config "
            "patches only\nwhat differs. `mooring validate` reads this file with tenants/ in "
            "pull requests.",
        ),
        "environments/base/kustomization.yaml": _kustomization(["platform.yaml"]),
    }
    for environment in ENVIRONMENTS:
        patches: list[dict[str, Any]] = []
        for addon in addons:
            values = addon.environment_values.get(environment)
            if values:
                patches.append(
                    {
                        "target": {"kind": "Application", "name": addon.name},
                        "patch": _merge_patch(
                            "Application",
                            addon.name,
                            {"spec": {"source": {"helm": {"valuesObject": values}}}},
                            ARGO_API,
                        ),
                    }
                )
        resources = ["../../platform/mooring"]
        if addons:
            resources.insert(0, "../../platform/addons")
        files[f"environments/{environment}/kustomization.yaml"] = _kustomization(
            resources,
            patches=patches,
            comment=f"The {environment} clusters' app of apps: the platform base and the "
            f"addon values that differ in {environment}.",
        )
        # The local profile's one cluster plays every environment with the base as it is.
        config_patches = (
            []
            if s.profile == "local"
            else [
                {
                    "target": {"kind": "PlatformConfig", "name": "default"},
                    "patch": _merge_patch(
                        "PlatformConfig", "default", {"spec": CONFIG_PATCHES[environment]}
                    ),
                }
            ]
        )
        files[f"environments/{environment}/config/kustomization.yaml"] = _kustomization(
            ["../../base"],
            patches=config_patches,
            comment=f"The PlatformConfig of the {environment} clusters: the base, patched "
            "where it differs.",
        )
    return files


# -- CI -----------------------------------------------------------------------------------------


def pull_request_workflow(s: Settings) -> str:
    environments = ", ".join(ENVIRONMENTS)
    return f"""\
# Pull requests to the platform repository: the same checks Mooring and Argo CD will apply,
# before the merge. A red check names the file and line, and how to fix it.
name: pull-request
on:
  pull_request:
    branches: [{s.revision}]
permissions:
  contents: read
env:
  MOORING_VERSION: "{__version__}"
  KUSTOMIZE_VERSION: "5.8.2"
jobs:
  validate:
    name: validate (${{{{ matrix.environment }}}})
    runs-on: ubuntu-latest
    strategy:
      fail-fast: false
      matrix:
        environment: [{environments}]
    env:
      ENVIRONMENT: ${{{{ matrix.environment }}}}
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - name: Install Mooring and kustomize
        run: |
          pip install "mooring==$MOORING_VERSION"
          go install "sigs.k8s.io/kustomize/kustomize/v5@v$KUSTOMIZE_VERSION"
          echo "$(go env GOPATH)/bin" >> "$GITHUB_PATH"
      - name: Render the environment (what Argo CD will sync)
        run: |
          mkdir -p rendered
          kustomize build "environments/$ENVIRONMENT" > rendered/platform-apps.yaml
          kustomize build "environments/$ENVIRONMENT/config" > rendered/platform.yaml
      - name: mooring validate (tenants against this environment's PlatformConfig)
        run: mooring validate rendered/platform.yaml tenants/ --format github
      - name: mooring check (the teams' manifests against the guardrails)
        run: mooring check tenants/ --platform rendered/platform.yaml --format github
      # COST ESTIMATE: the cost of this change per team goes here once `mooring cost` exists
      # (a step such as `mooring cost estimate rendered/platform.yaml tenants/ --format github`).
  repository:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - run: pip install "mooring==$MOORING_VERSION"
      - name: mooring validate (the whole repository)
        run: mooring validate . --format github
"""


def team_check_workflow(s: Settings) -> str:
    return f"""\
# Reusable by the teams' own repositories: judge their manifests (or `helm template` output)
# against this platform's guardrails, with their tenant file, before they merge.
#
#   jobs:
#     guardrails:
#       uses: <this repository>/.github/workflows/team-check.yaml@{s.revision}
#       with: {{tenant: payments, manifests: deploy/}}
name: team-check
on:
  workflow_call:
    inputs:
      tenant:
        description: The team's tenant file name (tenants/<tenant>.yaml)
        required: true
        type: string
      manifests:
        description: Paths of the manifests to check
        required: true
        type: string
      environment:
        description: Which environment's PlatformConfig to judge against
        required: false
        default: prod
        type: string
permissions:
  contents: read
jobs:
  check:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: actions/checkout@v4
        with:
          repository: ${{{{ github.repository_owner }}}}/platform
          path: .platform
      - uses: actions/setup-python@v5
        with:
          python-version: "3.11"
      - env:
          ENVIRONMENT: ${{{{ inputs.environment }}}}
        run: |
          pip install "mooring=={__version__}"
          go install sigs.k8s.io/kustomize/kustomize/v5@v5.8.2
          "$(go env GOPATH)/bin/kustomize" build ".platform/environments/$ENVIRONMENT/config" \\
            > .platform/platform.yaml
      - name: mooring check
        run: >-
          mooring check ${{{{ inputs.manifests }}}} --format github
          --platform .platform/platform.yaml
          --tenant ".platform/tenants/${{{{ inputs.tenant }}}}.yaml"
"""


def _codeowners(s: Settings) -> str:
    return f"""\
# The platform team reviews everything; add a team as co-owner of its own file, e.g.
#   /tenants/payments.yaml  @example/payments-leads {s.platform_team}
*             {s.platform_team}
/tenants/     {s.platform_team}
"""


# -- text -----------------------------------------------------------------------------------


_TENANTS_README = """\
# Tenants

One file per team: `tenants/<team>.yaml`, holding the team's `Tenant` and, optionally, its
`Database` and `PolicyException` resources (Mooring's kinds only: Argo CD's `tenants` project
refuses anything else). Start one with:

    mooring tenant new payments --owner alice@example.com --env dev --env prod --dir tenants

then `mooring validate environments/base/platform.yaml tenants/` and open a pull request.
After the merge Argo CD syncs the file (Application `tenant-<team>`) and Mooring makes the
namespaces; the Application turns Healthy when the Tenant is Ready, or Degraded with
Mooring's message when something needs a change.
"""


def _readme(s: Settings, addons: list[Addon]) -> str:
    table = "\n".join(
        f"| {a.name} | {a.chart} {a.version} | {a.wave} | {a.description} |" for a in addons
    )
    addon_text = (
        "| addon | chart | wave | what for |\n| --- | --- | --- | --- |\n" + table
        if addons
        else "The `local` profile has no third-party addons (charts cannot be fetched "
        "offline); Mooring and the PlatformConfig only."
    )
    return f"""\
# Platform repository

Written by `mooring init --profile {s.profile}` (Mooring {__version__}). Argo CD syncs this
repository to every cluster; Mooring turns the teams' files into namespaces, access, quotas,
network isolation, guardrails and databases.

- `bootstrap/`: applied once with `kubectl apply -k bootstrap/` (Argo CD must be installed);
  from then on the `root` Application keeps it in sync.
- `platform/`: the addons (Helm charts pinned by version, ordered by sync waves), Mooring,
  and the PlatformConfig's Application.
- `environments/`: `base/` holds the PlatformConfig; `dev/`, `staging/`, `prod/` patch only
  what differs (capacity, guardrail modes, addon values).
- `tenants/`: one file per team; see tenants/README.md.
- `.github/`: the pull-request checks (`mooring validate` per environment, `mooring check`),
  a reusable workflow for the teams' repositories, CODEOWNERS.

A cluster is an Argo CD cluster Secret labelled `{LABEL_CLUSTER_ENVIRONMENT}=<dev|staging|prod>`
(and `{LABEL_CLUSTER_TENANTS}=true` to host tenants): it gets its environment's platform
and every team's file. Argo CD's own cluster is `bootstrap/clusters/in-cluster.yaml`.

{addon_text}
"""


def _kustomization(
    resources: list[str],
    *,
    namespace: str | None = None,
    patches: list[dict[str, Any]] | None = None,
    comment: str = "",
) -> str:
    body: dict[str, Any] = {"apiVersion": KUSTOMIZE_API, "kind": "Kustomization"}
    if namespace:
        body["namespace"] = namespace
    body["resources"] = resources
    if patches:
        body["patches"] = patches
    return _dump([body], comment)


def _merge_patch(kind: str, name: str, body: dict[str, Any], api_version: str = API_VERSION) -> str:
    patch = {"apiVersion": api_version, "kind": kind, "metadata": {"name": name}, **body}
    return dump(patch, sort_keys=False)


def _json_patch(operations: list[tuple[str, str, str]]) -> str:
    return dump(
        [{"op": op, "path": path, "value": value} for op, path, value in operations],
        sort_keys=False,
    )


class _Literal(str):
    """A string written as a YAML block (|), for Lua and embedded patches."""


def _literal(dumper: yaml.SafeDumper, value: _Literal) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Literal, _literal)


def _blocks(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _blocks(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_blocks(v) for v in value]
    if isinstance(value, str) and "\n" in value:
        return _Literal(value)
    return value


def _dump(objects: list[dict[str, Any]], comment: str = "") -> str:
    header = "".join(f"# {line}".rstrip() + "\n" for line in comment.splitlines())
    body = yaml.dump_all(
        [_blocks(obj) for obj in objects],
        Dumper=_Dumper,
        sort_keys=False,
        width=100,
        default_flow_style=False,
    )
    return header + body
