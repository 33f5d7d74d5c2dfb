"""`mooring init`'s platform repository: valid from the first commit, safe by construction
(what a tenant file may bring through Argo CD), and free of per-team or per-environment copies."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from mooring.api.documents import parse_documents
from mooring.cli.main import cli
from mooring.core.validate import validate_documents
from mooring.gitops import catalog
from mooring.gitops.repository import (
    ENVIRONMENTS,
    RESOURCES_FINALIZER,
    SYSTEM_NAMESPACES,
    Settings,
    render_repository,
)

PROFILES = ("generic", "eks", "openshift", "local")


def documents(files: dict[str, str]) -> dict[str, list[dict[str, Any]]]:
    """Every manifest by path (the CI workflows under .github/ are not manifests, and
    `mooring validate` skips hidden folders as well)."""
    return {
        path: [d for d in yaml.safe_load_all(text) if d]
        for path, text in files.items()
        if path.endswith(".yaml") and not path.startswith(".")
    }


def only(files: dict[str, str], path: str) -> dict[str, Any]:
    (obj,) = documents(files)[path]
    return obj


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_is_valid_for_mooring_validate_from_the_first_commit(profile: str) -> None:
    files = render_repository(Settings(profile=profile))  # type: ignore[arg-type]
    docs = [
        d
        for path, text in files.items()
        if path.endswith(".yaml") and not path.startswith(".")
        for d in parse_documents(text, path)
    ]
    parsed, findings = validate_documents(docs)
    assert findings == []
    assert parsed.platform is not None  # environments/base/platform.yaml


@pytest.mark.parametrize("profile", PROFILES)
def test_every_yaml_file_parses_and_every_object_names_itself(profile: str) -> None:
    for path, objects in documents(render_repository(Settings(profile=profile))).items():  # type: ignore[arg-type]
        for obj in objects:
            assert obj.get("apiVersion") and obj.get("kind"), path
            if obj["kind"] != "Kustomization":
                assert obj["metadata"]["name"], path


def test_the_tenants_project_admits_only_moorings_kinds_outside_system_namespaces() -> None:
    projects = documents(render_repository(Settings()))["bootstrap/projects.yaml"]
    tenants = next(p for p in projects if p["metadata"]["name"] == "tenants")["spec"]
    assert tenants["clusterResourceWhitelist"] == [{"group": "mooring.dev", "kind": "Tenant"}]
    assert {(r["group"], r["kind"]) for r in tenants["namespaceResourceWhitelist"]} == {
        ("mooring.dev", "Database"),
        ("mooring.dev", "PolicyException"),
    }
    denied = [d["namespace"] for d in tenants["destinations"] if d["namespace"].startswith("!")]
    assert denied == [f"!{n}" for n in SYSTEM_NAMESPACES]
    # Argo CD reads deny entries before the catch-all; a catch-all first would admit all.
    assert tenants["destinations"][-1] == {"server": "*", "namespace": "*"}
    assert tenants["sourceRepos"] == [Settings().repo_url]


def test_the_platform_project_is_the_only_one_that_may_create_cluster_scoped_objects() -> None:
    projects = documents(render_repository(Settings()))["bootstrap/projects.yaml"]
    platform = next(p for p in projects if p["metadata"]["name"] == "platform")["spec"]
    assert platform["clusterResourceWhitelist"] == [{"group": "*", "kind": "*"}]
    assert "https://charts.jetstack.io" in platform["sourceRepos"]


@pytest.mark.parametrize("delivery", ["applicationset", "application"])
def test_a_team_file_leaving_git_is_deleted_in_the_background_so_moorings_finalizer_decides(
    delivery: str,
) -> None:
    # Foreground deletion (Argo CD's default) lets the garbage collector delete the quota and
    # network policies of a namespace Mooring keeps for its data, before Mooring's finalizer runs.
    files = render_repository(Settings(tenants=delivery))  # type: ignore[arg-type]
    obj = only(files, "bootstrap/tenants.yaml")
    app = obj["spec"]["template"] if obj["kind"] == "ApplicationSet" else obj
    assert app["metadata"]["finalizers"] == [RESOURCES_FINALIZER]
    assert RESOURCES_FINALIZER.endswith("/background")
    policy = app["spec"]["syncPolicy"]
    assert "PrunePropagationPolicy=background" in policy["syncOptions"]
    assert policy["automated"] == {"prune": True, "selfHeal": True}
    assert app["spec"]["project"] == "tenants"


def test_one_application_per_team_file_refreshes_only_on_its_own_file() -> None:
    appset = only(render_repository(Settings()), "bootstrap/tenants.yaml")
    generators = appset["spec"]["generators"][0]["matrix"]["generators"]
    assert generators[1]["git"]["files"] == [{"path": "tenants/*.yaml"}]
    template = appset["spec"]["template"]
    assert template["spec"]["source"]["directory"] == {"include": "{{ .path.filename }}"}
    assert (
        template["metadata"]["annotations"]["argocd.argoproj.io/manifest-generate-paths"]
        == "{{ .path.filename }}"
    )


@pytest.mark.parametrize("profile", ["generic", "eks", "openshift"])
def test_addons_are_pinned_and_ordered_by_waves_before_mooring_and_its_config(
    profile: str,
) -> None:
    files = render_repository(Settings(profile=profile))  # type: ignore[arg-type]
    waves = {}
    for path, objects in documents(files).items():
        for obj in objects:
            if obj["kind"] == "Application" and path.startswith("platform/"):
                annotations = obj["metadata"]["annotations"]
                waves[obj["metadata"]["name"]] = int(annotations["argocd.argoproj.io/sync-wave"])
                source = obj["spec"]["source"]
                if "chart" in source:
                    assert source["targetRevision"][0].isdigit() or source[
                        "targetRevision"
                    ].startswith("v"), (path, source["targetRevision"])
    assert (
        max(w for n, w in waves.items() if n not in ("mooring", "platform-config"))
        < (waves["mooring"])
    )
    assert waves["mooring"] < waves["platform-config"]
    names = set(waves) - {"mooring", "platform-config"}
    assert ("karpenter" in names) == (profile == "eks")
    assert ("ingress-nginx" in names) == (profile != "openshift")


def test_the_local_profile_leaves_third_party_charts_out_so_it_converges_offline() -> None:
    files = render_repository(Settings(profile="local"))
    assert not [p for p in files if p.startswith("platform/addons/")]
    for environment in ENVIRONMENTS:
        kustomization = only(files, f"environments/{environment}/kustomization.yaml")
        assert kustomization["resources"] == ["../../platform/mooring"]


def test_environments_patch_only_what_differs_and_define_nothing_twice() -> None:
    files = render_repository(Settings(profile="generic"))
    definitions: dict[tuple[str, str], str] = {}
    for path, objects in documents(files).items():
        for obj in objects:
            if obj["kind"] in ("Kustomization",):
                continue
            key = (obj["kind"], obj["metadata"]["name"])
            assert key not in definitions, f"{key} in {path} and {definitions[key]}"
            definitions[key] = path
    for environment in ENVIRONMENTS:
        kustomization = only(files, f"environments/{environment}/kustomization.yaml")
        assert kustomization["resources"] == ["../../platform/addons", "../../platform/mooring"]
        config = only(files, f"environments/{environment}/config/kustomization.yaml")
        assert config["resources"] == ["../../base"]
    # Fifty teams are fifty files in tenants/, whatever the number of environments or clusters.
    assert [p for p in files if p.startswith("tenants/")] == ["tenants/README.md"]


def test_one_app_of_apps_per_labelled_cluster_reads_its_environment() -> None:
    appset = only(render_repository(Settings()), "bootstrap/platform.yaml")
    selector = appset["spec"]["generators"][0]["clusters"]["selector"]
    assert selector["matchExpressions"][0]["values"] == list(ENVIRONMENTS)
    source = appset["spec"]["template"]["spec"]["source"]
    assert source["path"] == 'environments/{{ index .metadata.labels "mooring.dev/environment" }}'
    patched = [p["target"].get("name") for p in source["kustomize"]["patches"]]
    assert patched == [None, "platform-config"]  # every child's cluster; the config's path


def test_argo_cds_own_cluster_is_a_labelled_cluster_secret_with_no_credentials() -> None:
    secret = only(
        render_repository(Settings(cluster_environment="prod")),
        "bootstrap/clusters/in-cluster.yaml",
    )
    assert secret["metadata"]["labels"]["mooring.dev/environment"] == "prod"
    assert secret["stringData"] == {
        "name": "in-cluster",
        "server": "https://kubernetes.default.svc",
    }


def test_the_pull_request_workflow_validates_each_environment_and_marks_the_cost_step() -> None:
    files = render_repository(Settings())
    workflow = yaml.safe_load(files[".github/workflows/pull-request.yaml"])
    validate = workflow["jobs"]["validate"]
    assert validate["strategy"]["matrix"]["environment"] == list(ENVIRONMENTS)
    runs = "\n".join(step.get("run", "") for step in validate["steps"])
    assert "mooring validate rendered/platform.yaml tenants/" in runs
    assert "mooring check tenants/" in runs
    assert "COST ESTIMATE" in files[".github/workflows/pull-request.yaml"]
    # Inputs reach the shell through env, never spliced into the script.
    assert "${{" not in runs
    team = yaml.safe_load(files[".github/workflows/team-check.yaml"])
    assert "workflow_call" in team[True]  # YAML 1.1 reads `on:` as True


def test_argocd_cm_keys_cover_every_mooring_kind() -> None:
    cm = only(render_repository(Settings()), "bootstrap/argocd-cm.yaml")
    for kind in ("Tenant", "Database", "PolicyException", "PlatformConfig"):
        assert f"resource.customizations.health.mooring.dev_{kind}" in cm["data"]
        assert f"resource.customizations.ignoreDifferences.mooring.dev_{kind}" in cm["data"]
    assert "resource.customizations.health.argoproj.io_Application" in cm["data"]
    ignore = yaml.safe_load(
        cm["data"]["resource.customizations.ignoreDifferences.mooring.dev_PlatformConfig"]
    )
    assert ignore["managedFieldsManagers"] == ["mooring-databases"]


def test_init_writes_the_repository_and_refuses_to_overwrite(tmp_path: Path) -> None:
    runner = CliRunner()
    done = runner.invoke(cli, ["init", str(tmp_path / "platform"), "--profile", "openshift"])
    assert done.exit_code == 0, done.output
    assert (tmp_path / "platform" / "bootstrap" / "root.yaml").is_file()
    validated = runner.invoke(cli, ["validate", str(tmp_path / "platform")])
    assert validated.exit_code == 0, validated.output
    again = runner.invoke(cli, ["init", str(tmp_path / "platform")])
    assert again.exit_code == 2
    assert "--force" in again.output
    forced = runner.invoke(cli, ["init", str(tmp_path / "platform"), "--force"])
    assert forced.exit_code == 0


def test_every_addon_of_the_catalog_belongs_to_a_cloud_profile() -> None:
    for addon in catalog.ADDONS:
        assert addon.profiles and "local" not in addon.profiles, addon.name
        assert catalog.WAVE_NETWORK <= addon.wave < catalog.WAVE_MOORING
