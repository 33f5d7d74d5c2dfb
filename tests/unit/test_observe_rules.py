"""The tenants' alert rules through Debian's promtool: every generated file checks, and every
baseline alert fires on series that should fire it and stays silent on series that must
not (tests/observe_cases.py)."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from mooring.api.observe import Thresholds, parse_selector
from mooring.api.tenant import Tenant
from mooring.core.observe.baseline import alert_names
from mooring.core.observe.platform import platform_alerts, platform_rule_file
from mooring.core.observe.slo import scoped
from mooring.core.render import Context, Features
from mooring.core.render.observe import prometheus_rules, rule_file, thresholds
from mooring.core.validate import validate_documents
from mooring.services.sources import read_sources
from tests.builders import platform, tenant
from tests.observe_cases import CASES, SLO, SLO_CASES, Case

ROOT = Path(__file__).resolve().parents[2]


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("Debian's promtool is not installed; run scripts/bootstrap")
    return found


def check_rules(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )


def example_contexts() -> list[Context]:
    sources = read_sources([str(ROOT / "examples" / "platform")])
    parsed, _ = validate_documents(sources.documents)
    assert parsed.platform is not None
    return [Context(t, parsed.platform[0].spec) for t, _ in parsed.tenants]


def slo_tenant() -> Tenant:
    return tenant(envs=("dev", "prod"), observe={"slos": [SLO]})


def test_every_generated_rule_file_passes_promtool(tmp_path: Path) -> None:
    documents: dict[str, Any] = {
        f"{ctx.tenant.name}.yaml": rule_file(ctx) for ctx in example_contexts()
    }
    documents["slo.yaml"] = rule_file(Context(slo_tenant(), platform().spec))
    documents["platform.yaml"] = platform_rule_file(platform().spec.observe)
    for name, document in documents.items():
        path = tmp_path / name
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        checked = check_rules(path)
        assert checked.returncode == 0, f"{name}: {checked.stdout}{checked.stderr}"
        assert "SUCCESS" in checked.stdout


def test_promtool_refuses_a_broken_rule_so_the_check_is_not_vacuous(tmp_path: Path) -> None:
    document = rule_file(Context(tenant(), platform().spec))
    document["groups"][0]["rules"][1]["expr"] += " >"
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document))
    assert check_rules(path).returncode != 0


def test_the_prometheus_rules_hold_the_same_groups_as_the_rule_file() -> None:
    ctx = Context(slo_tenant(), platform().spec, Features(prometheus_operator=True))
    objects = prometheus_rules(ctx)
    assert [o["metadata"]["namespace"] for o in objects] == ["acme-dev", "acme-prod"]
    assert [g for o in objects for g in o["spec"]["groups"]] == rule_file(ctx)["groups"]


# -- promtool test rules: one case that fires, one that must not ---------------------------------


def _test_file(case: Case, rules: Path) -> dict[str, Any]:
    return {
        "rule_files": [str(rules)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [{"series": s, "values": v} for s, v in case.series.items()],
                "alert_rule_test": [
                    {
                        "eval_time": case.eval_time,
                        "alertname": case.alert,
                        "exp_alerts": [
                            {"exp_labels": labels, "exp_annotations": annotations(case, labels)}
                            for labels in case.fires
                        ],
                    }
                ],
            }
        ],
    }


def _rules(slos: bool) -> dict[str, Any]:
    subject = slo_tenant() if slos else tenant()
    document = rule_file(Context(subject, platform().spec))
    # The dev namespace's groups; acme-prod's would never match these series anyway.
    document["groups"] = [g for g in document["groups"] if "acme-dev" in g["name"]]
    return document


_RULES = {False: _rules(False), True: _rules(True)}


def annotations(case: Case, labels: dict[str, str]) -> dict[str, str]:
    """The annotations the rule gives, with the label templates filled in."""
    rules = [
        r
        for g in _RULES[case in SLO_CASES]["groups"]
        for r in g["rules"]
        if r.get("alert") == case.alert and r["labels"]["severity"] == labels["severity"]
    ]
    assert len(rules) == 1, rules
    filled = {}
    for key, text in rules[0]["annotations"].items():
        text = _without_value(text)
        for label, value in labels.items():
            text = text.replace(f"{{{{ $labels.{label} }}}}", value)
        filled[key] = text
    return filled


@pytest.mark.parametrize(
    "case",
    CASES + SLO_CASES,
    ids=[
        f"{c.alert} {'fires on' if c.fires else 'stays silent on'} {c.why}"
        for c in CASES + SLO_CASES
    ],
)
def test_baseline_alert(case: Case, tmp_path: Path) -> None:
    document = copy.deepcopy(_RULES[case in SLO_CASES])
    for group in document["groups"]:
        for rule in group["rules"]:
            # {{ $value }} renders differently per case; the cases check the labels and
            # the text around it, so leave the value out of the comparison.
            for key, text in rule.get("annotations", {}).items():
                rule["annotations"][key] = _without_value(text)
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump(document, sort_keys=False))
    test = tmp_path / "test.yaml"
    test.write_text(yaml.safe_dump(_test_file(case, rules), sort_keys=False))
    result = subprocess.run(
        [promtool(), "test", "rules", str(test)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _without_value(text: str) -> str:
    for template in ("{{ $value | humanizePercentage }}", "{{ $value | humanizeDuration }}"):
        text = text.replace(template, "VALUE")
    return text.replace("{{ $value }}", "VALUE")


def test_every_baseline_alert_has_a_case_that_fires_and_one_that_must_not() -> None:
    for name in alert_names():
        cases = [c for c in CASES if c.alert == name]
        assert any(c.fires for c in cases), f"{name} has no case that fires"
        assert any(not c.fires for c in cases), f"{name} has no case that must stay silent"


def test_every_alert_has_a_runbook_its_runbook_url_names() -> None:
    names = alert_names() + ["MooringSLOErrorBudgetBurn"]
    names += [a["alert"] for a in platform_alerts(platform().spec.observe)]
    for name in names:
        runbook = ROOT / "docs" / "runbooks" / f"{name}.md"
        assert runbook.is_file(), f"no runbook for {name}: write {runbook.relative_to(ROOT)}"
        text = runbook.read_text()
        for section in ("## Meaning", "## Impact", "## Diagnosis", "## Mitigation"):
            assert section in text, f"{runbook.name} lacks {section}"
    rules = rule_file(Context(slo_tenant(), platform().spec))["groups"]
    for rule in (r for g in rules for r in g["rules"] if "alert" in r):
        assert rule["annotations"]["runbook_url"].endswith(f"/{rule['alert']}.md")
        assert {"tenant", "namespace", "severity"} <= set(rule["labels"])


# -- thresholds and SLO selectors ---------------------------------------------------------------


def test_thresholds_come_from_the_tenant_over_the_tier_over_the_platform() -> None:
    spec = platform(
        observe={"alertThresholds": {"cpuThrottlingPercent": 40, "crashLoopingFor": "30m"}}
    )
    tiers = spec.model_dump(by_alias=True, mode="json")["spec"]["tiers"]
    tiers["small"]["alertThresholds"] = {"cpuThrottlingPercent": 50}
    spec = platform(tiers=tiers, observe={"alertThresholds": {"crashLoopingFor": "30m"}})
    mine = tenant(observe={"alertThresholds": {"quotaAlmostFullPercent": 80}})
    result = thresholds(Context(mine, spec.spec))
    assert result.cpu_throttling_percent == 50  # tier
    assert result.crash_looping_for == "30m"  # platform
    assert result.quota_almost_full_percent == 80  # tenant
    assert result.pod_not_ready_for == "15m"  # Mooring's default (the mixin's)
    groups = rule_file(Context(mine, spec.spec))["groups"]
    quota = next(r for g in groups for r in g["rules"] if r.get("alert") == "KubeQuotaAlmostFull")
    assert "> 0.8 < 1" in quota["expr"]
    assert Thresholds().over(result) == result


@pytest.mark.parametrize(
    ("selector", "problem"),
    [
        ('http_requests_total{namespace="other-dev"}', "matches on 'namespace'"),
        ('http_requests_total{tenant="other"}', "matches on 'tenant'"),
        ("sum(rate(http_requests_total[5m]))", "not a series selector"),
        ('http_requests_total{code="5"} or vector(1)', "not a series selector"),
        ('http_requests_total{code="5" job="x"}', "expected ','"),
    ],
    ids=[
        "refuses another namespace",
        "refuses a tenant matcher",
        "refuses an expression",
        "refuses an operator after the selector",
        "refuses matchers without commas",
    ],
)
def test_an_slo_series_must_be_a_plain_selector(selector: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_selector(selector)


def test_an_slo_counts_only_the_tenants_namespace() -> None:
    assert (
        scoped('http_requests_total{code!~"5..", job="api"}', "acme-dev")
        == 'http_requests_total{namespace="acme-dev", code!~"5..", job="api"}'
    )
