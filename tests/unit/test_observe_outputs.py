"""Routing checked by Debian's amtool, dashboards by Grafana 11.0's JSON Schema (vendored
from the grafana-foundation-sdk), and the objects a tenant gets per cluster feature."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mooring.api import names
from mooring.api.tenant import Tenant
from mooring.core.observe.dashboards import SCHEMA_VERSION
from mooring.core.observe.platform import platform_dashboard
from mooring.core.observe.routing import alertmanager_config, left_out
from mooring.core.render import Context, Features, render_tenant
from mooring.core.render.observe import alertmanager_configs, tenant_dashboard
from mooring.core.render.platform import install
from tests.builders import platform, tenant
from tests.observe_cases import SLO

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "fixtures" / "grafana-foundation-sdk" / "dashboard.jsonschema.json"
CONTACTS = {
    "emails": ["oncall@acme.example"],
    "slack": [{"channel": "#acme-alerts", "apiUrl": {"name": "alerting", "key": "slack"}}],
    "webhooks": [{"url": {"name": "alerting", "key": "webhook"}}],
    "pagerduty": {"routingKey": {"name": "alerting", "key": "pagerduty"}},
}


def amtool() -> str:
    found = shutil.which("amtool")
    if found is None:
        pytest.fail("Debian's amtool (prometheus-alertmanager) is missing; run scripts/bootstrap")
    return found


def team(name: str, contacts: dict[str, Any]) -> Tenant:
    return tenant(name, envs=("dev", "prod"), observe={"contacts": contacts})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    tenants = [
        team("acme", CONTACTS),
        team("beta", {"emails": ["beta@beta.example"]}),
        team("quiet", {}),
    ]
    path = tmp_path / "alertmanager.yml"
    path.write_text(
        yaml.safe_dump(alertmanager_config(tenants, platform().spec.observe.alertmanager))
    )
    return path


def test_the_alertmanager_configuration_passes_amtool_check_config(config: Path) -> None:
    checked = subprocess.run(
        [amtool(), "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_amtool_refuses_a_broken_configuration_so_the_check_is_not_vacuous(
    config: Path,
) -> None:
    document = yaml.safe_load(config.read_text())
    document["route"]["routes"][0]["receiver"] = "nobody"
    config.write_text(yaml.safe_dump(document))
    checked = subprocess.run(
        [amtool(), "check-config", str(config)], capture_output=True, text=True, check=False
    )
    assert checked.returncode != 0


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        ({"tenant": "acme", "severity": "critical"}, "acme-page,acme-notify"),
        ({"tenant": "acme", "severity": "warning", "burn": "ticket"}, "acme-notify"),
        ({"tenant": "acme", "severity": "info"}, "acme-notify"),
        ({"tenant": "beta", "severity": "critical"}, "beta-notify"),
        ({"tenant": "quiet", "severity": "critical"}, "mooring-unrouted"),
        ({"tenant": "intruder", "severity": "critical"}, "mooring-unrouted"),
        ({"severity": "critical", "namespace": "acme-dev"}, "mooring-unrouted"),
    ],
    ids=[
        "a critical alert pages and notifies",
        "an SLO ticket only notifies",
        "an info alert notifies",
        "a tenant without PagerDuty is notified of critical alerts",
        "a tenant without contacts is not routed",
        "an unknown tenant reaches no tenant's receiver",
        "an alert without a tenant label reaches no tenant's receiver",
    ],
)
def test_amtool_routes_each_tenants_alerts_to_its_own_receivers(
    config: Path, labels: dict[str, str], receivers: str
) -> None:
    tested = subprocess.run(
        [
            amtool(),
            "config",
            "routes",
            "test",
            f"--config.file={config}",
            f"--verify.receivers={receivers}",
            *(f"{k}={v}" for k, v in labels.items()),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_webhooks_are_left_out_with_a_warning_for_an_alertmanager_that_cannot_read_them() -> None:
    settings = platform().spec.observe.alertmanager
    acme = team("acme", CONTACTS)
    receivers = alertmanager_config([acme], settings)["receivers"]
    assert all("webhook_configs" not in r for r in receivers)
    assert left_out([acme], settings) and "webhook" in left_out([acme], settings)[0]
    newer = settings.model_copy(update={"webhook_url_file": True})
    receivers = alertmanager_config([acme], newer)["receivers"]
    notify = next(r for r in receivers if r["name"] == "acme-notify")
    assert notify["webhook_configs"][0]["url_file"].endswith("/acme-dev/alerting/webhook")


def test_an_alertmanager_config_per_namespace_matches_only_the_tenant() -> None:
    ctx = Context(team("acme", CONTACTS), platform().spec, Features(alertmanager_config=True))
    objects = alertmanager_configs(ctx)
    assert [o["metadata"]["namespace"] for o in objects] == ["acme-dev", "acme-prod"]
    route = objects[0]["spec"]["route"]
    assert route["matchers"] == [{"name": "tenant", "value": "acme", "matchType": "="}]
    receivers = {r["name"]: r for r in objects[0]["spec"]["receivers"]}
    assert receivers["acme-page"]["pagerdutyConfigs"][0]["routingKey"] == {
        "name": "alerting",
        "key": "pagerduty",
    }
    assert alertmanager_configs(Context(team("quiet", {}), platform().spec)) == []


# -- dashboards ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def errors(validator: jsonschema.Draft7Validator, board: dict[str, Any]) -> list[str]:
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(board)]


@pytest.mark.parametrize(
    "board",
    [
        tenant_dashboard(Context(tenant(), platform().spec)),
        tenant_dashboard(
            Context(
                tenant(envs=("dev", "prod"), observe={"slos": [SLO, {**SLO, "name": "web"}]}),
                platform().spec,
            )
        ),
        platform_dashboard(platform().spec.observe),
    ],
    ids=["a tenant's dashboard", "a tenant's dashboard with SLO panels", "the platform's"],
)
def test_dashboards_validate_against_grafanas_schema(
    validator: jsonschema.Draft7Validator, board: dict[str, Any]
) -> None:
    assert errors(validator, board) == []
    assert board["schemaVersion"] == SCHEMA_VERSION
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))


def test_the_schema_refuses_a_broken_dashboard_so_the_check_is_not_vacuous(
    validator: jsonschema.Draft7Validator,
) -> None:
    board = tenant_dashboard(Context(tenant(), platform().spec))
    board["panels"][0]["gridPos"]["w"] = 30  # wider than Grafana's 24 columns
    board["panels"][1]["colour"] = "red"
    assert len(errors(validator, board)) >= 2


def test_the_tenant_dashboard_covers_its_namespaces_and_slos() -> None:
    board = tenant_dashboard(
        Context(tenant(envs=("dev", "prod"), observe={"slos": [SLO]}), platform().spec)
    )
    variable = next(v for v in board["templating"]["list"] if v["name"] == "namespace")
    assert variable["query"] == "acme-dev,acme-prod"
    titles = [p["title"] for p in board["panels"]]
    for wanted in ("Alerts firing", "Guardrail violations", "CPU: requested, used, quota"):
        assert wanted in titles
    assert any(t.startswith("SLO api: error budget left") for t in titles)


# -- what a tenant gets, per cluster ---------------------------------------------------------------


def kinds(features: Features) -> list[str]:
    ctx = Context(team("acme", CONTACTS), platform().spec, features)
    return sorted(
        {o["kind"] for o in render_tenant(ctx)}
        & {"ConfigMap", "PrometheusRule", "AlertmanagerConfig", "GrafanaDashboard"}
    )


def test_a_tenant_gets_rules_routes_and_dashboards_where_their_crds_are() -> None:
    assert kinds(Features()) == ["ConfigMap"]
    everything = Features(prometheus_operator=True, alertmanager_config=True, grafana_operator=True)
    assert kinds(everything) == [
        "AlertmanagerConfig",
        "ConfigMap",
        "GrafanaDashboard",
        "PrometheusRule",
    ]


def test_the_dashboard_configmap_is_labelled_for_grafanas_sidecar() -> None:
    ctx = Context(tenant(), platform().spec, Features(grafana_operator=True))
    objects = {o["kind"]: o for o in render_tenant(ctx)}
    configmap = objects["ConfigMap"]
    assert configmap["metadata"]["labels"][names.LABEL_GRAFANA_DASHBOARD] == "1"
    assert configmap["metadata"]["labels"][names.LABEL_TENANT] == "acme"
    board = json.loads(next(iter(configmap["data"].values())))
    assert board["uid"] == "mooring-tenant-acme"
    grafana = objects["GrafanaDashboard"]
    assert json.loads(grafana["spec"]["json"]) == board
    assert grafana["spec"]["instanceSelector"] == {"matchLabels": {"dashboards": "grafana"}}


def test_members_may_write_their_own_prometheus_rules_and_the_protection_policy_is_installed() -> (
    None
):
    objects = install()
    developer = next(o for o in objects if o["metadata"]["name"] == "mooring-tenant-developer")
    assert any(
        "prometheusrules" in r["resources"] and "create" in r["verbs"] for r in developer["rules"]
    )
    viewer = next(o for o in objects if o["metadata"]["name"] == "mooring-tenant-viewer")
    assert not any("create" in r["verbs"] for r in viewer["rules"])
    policy = next(o for o in objects if o["metadata"]["name"] == "mooring-managed-objects")
    assert policy["kind"] == "ValidatingAdmissionPolicy"


def _undescribed(schema: dict[str, Any], path: str) -> list[str]:
    missing = []
    for key, prop in (schema.get("properties") or {}).items():
        where = f"{path}.{key}"
        if not prop.get("description"):
            missing.append(where)
        missing += _undescribed(prop, where)
        items = prop.get("items")
        if isinstance(items, dict):
            missing += _undescribed(items, f"{where}[]")
        extra = prop.get("additionalProperties")
        if isinstance(extra, dict):
            missing += _undescribed(extra, f"{where}{{}}")
    return missing


@pytest.mark.parametrize(
    ("kind", "paths"),
    [("Tenant", ["observe"]), ("PlatformConfig", ["observe", "tiers"])],
    ids=["the Tenant's observe fields", "the PlatformConfig's observe fields and tiers"],
)
def test_every_observe_field_of_the_crds_is_described(kind: str, paths: list[str]) -> None:
    crd = next(
        o
        for o in install()
        if o["kind"] == "CustomResourceDefinition" and o["spec"]["names"]["kind"] == kind
    )
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    for path in paths:
        prop = spec["properties"][path]
        assert path == "tiers" or prop.get("description"), path
        found = _undescribed(prop, path)
        if path == "tiers":  # only the field this work added to a tier
            found = [f for f in found if "alertThresholds" in f]
        assert found == [], found
