"""`mooring check` reports for CI: SARIF valid by the official OASIS 2.1.0 schema, with
help links and stable fingerprints; file URIs encoded; standard input named by
--filename; JUnit with a test case for every judged object."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import jsonschema
import pytest
import yaml

from mooring.core.policy.rules import ALL
from tests.policy_cases import container, pod_spec, workload

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json"
SCHEMA_SHA256 = "c3b4bb2d6093897483348925aaa73af03b3e3f4bd4ca38cef26dcb4212a2682e"


def check(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mooring.cli", "check", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def good(name: str = "web") -> dict[str, Any]:
    return workload("Deployment", pod_spec(container()), name=name)


def latest(name: str = "bad") -> dict[str, Any]:
    return workload("Deployment", pod_spec(container(image="ghcr.io/acme/app:latest")), name=name)


def privileged(name: str = "root") -> dict[str, Any]:
    spec = pod_spec(container(securityContext={"privileged": True}))
    return workload("Deployment", spec, name=name)


def write(path: Path, *documents: Any, preamble: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(preamble + yaml.safe_dump_all(documents, sort_keys=False))
    return path


def sarif_log(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    log: dict[str, Any] = json.loads(done.stdout)
    return log


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA.read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def test_the_vendored_schema_is_the_official_one_unchanged() -> None:
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(SCHEMA.read_text())
    assert schema["id"].startswith("https://docs.oasis-open.org/sarif/sarif/v2.1.0/")


def test_sarif_is_valid_by_the_official_schema(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    write(tmp_path / "k8s" / "app.yaml", good(), latest(), privileged())
    (tmp_path / "k8s" / "broken.yaml").write_text("kind: [")
    exception = {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "PolicyException",
        "metadata": {"name": "legacy", "namespace": "default"},
        "spec": {
            "rules": ["privileged"],
            "workloads": {"names": ["root"]},
            "justification": "a vendor agent that needs it until Q3",
            "approver": "platform@example.com",
            "expires": "2099-01-01T00:00:00Z",
        },
    }
    write(tmp_path / "k8s" / "exception.yaml", exception)
    done = check("k8s", "-n", "default", "-o", "sarif", cwd=tmp_path)
    log = sarif_log(done)
    errors = sorted(validator.iter_errors(log), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])
    (run,) = log["runs"]
    assert {r["ruleId"] for r in run["results"]} == {"image-tag", "privileged"}
    assert any("suppressions" in r for r in run["results"])
    assert run["invocations"][0]["toolExecutionNotifications"]


def test_every_rule_links_to_its_own_section_of_the_guardrails_guide(tmp_path: Path) -> None:
    log = sarif_log(check(str(write(tmp_path / "a.yaml", good())), "-o", "sarif", cwd=tmp_path))
    guide = (ROOT / "docs" / "guardrails.md").read_text()
    headings = set(re.findall(r"^#### `([a-z-]+)`$", guide, re.MULTILINE))
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [rule.id for rule in ALL]
    for rule in rules:
        page, _, anchor = rule["helpUri"].partition("#")
        assert page.endswith("/docs/guardrails.md") and anchor == rule["id"]
        assert anchor in headings, f"docs/guardrails.md has no section for {anchor}"
        assert rule["helpUri"] in rule["help"]["markdown"]


def fingerprints(log: dict[str, Any]) -> dict[str, str]:
    return {
        r["message"]["text"]: r["partialFingerprints"]["mooringFinding/v1"]
        for r in log["runs"][0]["results"]
    }


def test_fingerprints_stay_when_lines_move_and_differ_between_findings(tmp_path: Path) -> None:
    path = tmp_path / "app.yaml"
    write(path, latest("one"), latest("two"))
    before = fingerprints(sarif_log(check("app.yaml", "-o", "sarif", cwd=tmp_path)))
    write(path, good("new"), latest("one"), latest("two"), preamble="# moved down\n")
    after = fingerprints(sarif_log(check("app.yaml", "-o", "sarif", cwd=tmp_path)))
    assert before == after
    assert len(set(before.values())) == 2


def test_file_uris_are_encoded_and_relative_to_the_working_directory(tmp_path: Path) -> None:
    write(tmp_path / "my app" / "a#1.yaml", latest())
    outside = write(tmp_path.parent / f"{tmp_path.name}-outside" / "b c.yaml", latest())
    log = sarif_log(check("my app", str(outside), "-o", "sarif", cwd=tmp_path))
    run = log["runs"][0]
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    assert {"uri": "my%20app/a%231.yaml", "uriBaseId": "%SRCROOT%"} in locations
    assert {"uri": "file://" + str(outside).replace(" ", "%20")} in locations
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"].endswith("/")


def test_standard_input_is_named_by_filename_in_sarif_and_annotations(
    tmp_path: Path, validator: jsonschema.protocols.Validator
) -> None:
    manifests = yaml.safe_dump_all([good(), latest()])
    log = sarif_log(
        check("-", "--filename", "chart/", "-o", "sarif", cwd=tmp_path, stdin=manifests)
    )
    assert not list(validator.iter_errors(log))
    (result,) = log["runs"][0]["results"]
    location = result["locations"][0]["physicalLocation"]["artifactLocation"]
    assert location == {"uri": "chart/", "uriBaseId": "%SRCROOT%"}
    annotations = check("-", "--filename", "chart/", "-o", "github", cwd=tmp_path, stdin=manifests)
    assert annotations.stdout.startswith("::error file=chart/,line=")
    text = check("-", "--filename", "chart/", cwd=tmp_path, stdin=manifests)
    assert text.stdout.startswith("chart/:")


def test_junit_counts_every_judged_object_per_file(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", good("one"), good("two"), latest("three"))
    write(tmp_path / "b.yaml", good("four"))
    done = check(".", "-o", "junit", cwd=tmp_path)
    root = ElementTree.fromstring(done.stdout.split("\n", 1)[1])
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "0")
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {"a.yaml", "b.yaml"}
    assert [c.get("name") for c in suites["a.yaml"]] == [
        "Deployment one",
        "Deployment two",
        "Deployment three",
    ]
    assert [c.find("failure") is not None for c in suites["a.yaml"]] == [False, False, True]
