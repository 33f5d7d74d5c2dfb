"""`mooring check` end to end: inputs of every shape, every output format, exit codes, and
bad input answered with a clear error (file and line), never a traceback."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
import yaml

from tests.policy_cases import container, pod_spec, workload

ROOT = Path(__file__).resolve().parents[2]


def run(
    *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mooring.cli", "check", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
        check=False,
    )


def good() -> dict[str, Any]:
    return workload("Deployment", pod_spec(container()))


def latest(name: str = "web") -> dict[str, Any]:
    return workload("Deployment", pod_spec(container(image="ghcr.io/acme/app:latest")), name=name)


def write(path: Path, *documents: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return path


def test_a_clean_file_exits_0(tmp_path: Path) -> None:
    done = run(str(write(tmp_path / "ok.yaml", good())))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 object(s) judged" in done.stderr


def test_a_violation_exits_1_and_names_file_line_object_and_fix(tmp_path: Path) -> None:
    path = write(tmp_path / "app.yaml", good(), latest())
    done = run(str(path))
    assert done.returncode == 1
    (line,) = done.stdout.strip().splitlines()
    text = path.read_text().splitlines()
    location, _, message = line.partition(": error [image-tag] ")
    number = int(location.rsplit(":", 1)[1])
    assert "image: ghcr.io/acme/app:latest" in text[number - 1]
    assert message.startswith("Deployment web: container app image ghcr.io/acme/app:latest")
    assert "pin a version tag" in message


def test_folders_are_read_recursively_and_stdin_with_a_dash(tmp_path: Path) -> None:
    write(tmp_path / "a" / "one.yaml", latest("one"))
    write(tmp_path / "a" / "b" / "two.yml", latest("two"))
    (tmp_path / "a" / "notes.txt").write_text("not yaml: [")
    done = run(str(tmp_path / "a"), "--format", "json")
    found = {f["object"] for f in json.loads(done.stdout)["findings"]}
    assert found == {"Deployment one", "Deployment two"}
    piped = run("-", stdin=yaml.safe_dump_all([good(), latest("piped")]))
    assert piped.returncode == 1
    assert piped.stdout.startswith("<stdin>:")


def test_helm_style_streams_with_comments_and_empty_documents(tmp_path: Path) -> None:
    stream = "---\n# Source: chart/templates/a.yaml\n" + yaml.safe_dump(latest()) + "---\n---\n"
    done = run("-", "--format", "json", stdin=stream)
    (finding,) = json.loads(done.stdout)["findings"]
    assert (
        finding["line"] == stream.splitlines().index("      - image: ghcr.io/acme/app:latest") + 1
    )


def test_a_list_of_objects_is_judged_item_by_item(tmp_path: Path) -> None:
    listing = {"apiVersion": "v1", "kind": "List", "items": [good(), latest("in-list")]}
    done = run(str(write(tmp_path / "list.yaml", listing)), "--format", "json")
    (finding,) = json.loads(done.stdout)["findings"]
    assert finding["object"] == "Deployment in-list"
    assert finding["path"].startswith("items[1].spec.template")


def test_rule_selects_one_rule(tmp_path: Path) -> None:
    bad = workload("Pod", pod_spec(container(image="nginx", securityContext={"privileged": True})))
    path = str(write(tmp_path / "pod.yaml", bad))
    everything = {f["rule"] for f in json.loads(run(path, "--format", "json").stdout)["findings"]}
    assert {"image-tag", "privileged"} <= everything
    only = json.loads(run(path, "--rule", "privileged", "--format", "json").stdout)["findings"]
    assert {f["rule"] for f in only} == {"privileged"}
    unknown = run(path, "--rule", "no-such-rule")
    assert unknown.returncode == 2 and "unknown rule 'no-such-rule'" in unknown.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("a: [1, 2\nb: c\n", ":2: error [unreadable] not valid YAML"),
        ("key: value\n", ":1: error [unreadable] not a Kubernetes object"),
        ("- a\n- b\n", ":1: error [unreadable] not a Kubernetes object"),
        ("apiVersion: v1\nkind: Pod\n---\n\tbad: tab\n", ":4: error [unreadable] not valid YAML"),
    ],
    ids=["an unclosed list", "a mapping without kind", "a bare list", "a tab"],
)
def test_bad_input_exits_2_with_file_and_line(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    done = run(str(path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert f"{path}{expected}" in done.stdout
    assert "Traceback" not in done.stdout + done.stderr


def test_missing_files_binary_files_and_huge_inputs_are_errors_not_tracebacks(
    tmp_path: Path,
) -> None:
    (tmp_path / "binary.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe")
    missing = run(str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "no such file or folder" in missing.stdout
    binary = run(str(tmp_path / "binary.yaml"))
    assert binary.returncode == 2 and "not UTF-8" in binary.stdout
    huge = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata:\n"
        + ("  k: " + "x" * 1000 + "\n") * 70_000
    )
    big = run("-", stdin=huge)
    assert big.returncode == 2 and "MiB limit" in big.stdout
    for done in (missing, binary, big):
        assert "Traceback" not in done.stdout + done.stderr


def test_an_alias_bomb_is_refused(tmp_path: Path) -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for n in range(1, 9):
        levels.append(f"{chr(97 + n)}: &{chr(97 + n)} [" + ", ".join([f"*{chr(96 + n)}"] * 9) + "]")
    text = "apiVersion: v1\nkind: Pod\nmetadata: {name: bomb}\nspec:\n" + "\n".join(
        "  " + line for line in levels
    )
    done = run("-", stdin=text)
    assert done.returncode == 2 and "aliases expand" in done.stdout


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_modes_and_exceptions_come_from_the_platform_tenants_and_exceptions(
    tmp_path: Path, jobs: str
) -> None:
    """With 2 jobs, the workers judge with the contexts and modes the parent settled."""
    platform = {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "PlatformConfig",
        "metadata": {"name": "default"},
        "spec": {
            "tiers": {"small": {"quota": {"cpu": "2", "memory": "4Gi", "pods": 10}}},
            "guardrails": {
                "defaultMode": "warn",
                "rules": [{"rule": "image-tag", "mode": "enforce"}],
            },
        },
    }
    tenant = {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "Tenant",
        "metadata": {"name": "acme"},
        "spec": {
            "owners": {"users": ["alice"]},
            "environments": [{"name": "dev"}],
            "guardrails": [{"rule": "image-tag", "mode": "audit"}],
        },
    }
    app = latest("web")
    app["metadata"]["namespace"] = "acme-dev"
    other = latest("web")
    other["metadata"]["namespace"] = "elsewhere"
    write(tmp_path / "platform.yaml", platform)
    write(tmp_path / "tenants" / "acme.yaml", tenant)
    write(tmp_path / "apps.yaml", app, other)
    rows = json.loads(run(str(tmp_path), "--format", "json", "-j", jobs).stdout)["findings"]
    modes = {(r["object"], r["mode"], r["level"]) for r in rows if r["rule"] == "image-tag"}
    assert modes == {
        ("Deployment acme-dev/web", "audit", "note"),
        ("Deployment elsewhere/web", "enforce", "error"),
    }
    exception = {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "PolicyException",
        "metadata": {"name": "pinned-soon", "namespace": "elsewhere"},
        "spec": {
            "rules": ["image-tag"],
            "workloads": {"names": ["web"]},
            "justification": "the vendor publishes a pinned tag next month",
            "approver": "bob",
            "expires": "2030-01-01T00:00:00Z",
        },
    }
    write(tmp_path / "exceptions.yaml", exception)
    before = run(str(tmp_path), "--format", "json", "-j", jobs, "--at", "2029-12-31T23:59:59Z")
    assert before.returncode == 0, before.stdout
    excepted = [r for r in json.loads(before.stdout)["findings"] if r["verdict"] == "excepted"]
    assert [r["exceptions"] for r in excepted] == [["pinned-soon"]]
    after = run(str(tmp_path), "--format", "json", "-j", jobs, "--at", "2030-01-01T00:00:00Z")
    assert after.returncode == 1
    assert "PolicyException elsewhere/pinned-soon expired" in json.loads(after.stdout)["notes"][0]


def test_an_invalid_policy_exception_is_reported_with_its_line(tmp_path: Path) -> None:
    broken = {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "PolicyException",
        "metadata": {"name": "x", "namespace": "n"},
        "spec": {
            "rules": ["image-tag"],
            "workloads": {},
            "justification": "short",
            "approver": "a",
        },
    }
    done = run(str(write(tmp_path / "pex.yaml", broken)))
    assert done.returncode == 1
    assert f"{tmp_path / 'pex.yaml'}:" in done.stdout and "[invalid]" in done.stdout


def test_github_annotations(tmp_path: Path) -> None:
    done = run(str(write(tmp_path / "a.yaml", latest())), "--format", "github")
    (line,) = done.stdout.strip().splitlines()
    assert line.startswith(f"::error file={tmp_path / 'a.yaml'},line=")
    assert "title=image-tag%3A Pinned image versions::Deployment web: container app" in line


def test_junit_is_xml_with_one_case_per_object_and_a_failure_for_a_violation(
    tmp_path: Path,
) -> None:
    done = run(str(write(tmp_path / "a.yaml", good(), latest("bad"))), "-o", "junit")
    root = ElementTree.fromstring(done.stdout.split("\n", 1)[1])
    assert root.tag == "testsuites" and root.get("failures") == "1" and root.get("tests") == "2"
    passing, failing = root.iter("testcase")
    assert passing.get("name") == "Deployment web" and len(passing) == 0
    assert failing.get("name") == "Deployment bad"
    failure = failing.find("failure")
    assert failure is not None and failure.get("type") == "image-tag"


def test_sarif_is_a_valid_2_1_0_log(tmp_path: Path) -> None:
    done = run(str(write(tmp_path / "a.yaml", latest())), "--format", "sarif")
    log = json.loads(done.stdout)
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run_,) = log["runs"]
    rules = run_["tool"]["driver"]["rules"]
    (result,) = run_["results"]
    assert rules[result["ruleIndex"]]["id"] == result["ruleId"] == "image-tag"
    region = result["locations"][0]["physicalLocation"]["region"]
    assert region["startLine"] > 1 and result["level"] == "error"


def test_a_large_input_is_judged_in_parallel_with_the_same_result(tmp_path: Path) -> None:
    documents = [latest(f"app-{n}") if n % 7 == 0 else good() for n in range(600)]
    for n in range(0, 600, 20):
        write(tmp_path / "many" / f"f{n:04d}.yaml", *documents[n : n + 20])
    serial = run(str(tmp_path / "many"), "--format", "json", "-j", "1")
    parallel = run(str(tmp_path / "many"), "--format", "json", "-j", "2")
    assert json.loads(serial.stdout)["findings"] == json.loads(parallel.stdout)["findings"]
    assert len(json.loads(serial.stdout)["findings"]) == 86


def test_ingress_hosts_are_judged_against_the_names_the_tenants_hold(tmp_path: Path) -> None:
    """The names a tenant holds come from the Tenant files, as in the cluster: the first
    claim holds a name (here, by name order: a repository has no creation times)."""

    def tenant(name: str, *hostnames: str) -> dict[str, Any]:
        return {
            "apiVersion": "mooring.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": name},
            "spec": {
                "owners": {"users": ["alice"]},
                "environments": [{"name": "dev"}],
                "hostnames": list(hostnames),
            },
        }

    def ingress(name: str, host: str) -> dict[str, Any]:
        backend = {"service": {"name": "web", "port": {"number": 80}}}
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {"name": name, "namespace": "shop-dev"},
            "spec": {
                "rules": [
                    {
                        "host": host,
                        "http": {
                            "paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]
                        },
                    }
                ]
            },
        }

    write(tmp_path / "tenants" / "shop.yaml", tenant("shop", "shop.example.com"))
    write(tmp_path / "tenants" / "rival.yaml", tenant("rival", "rival.example.com"))
    write(tmp_path / "tenants" / "late.yaml", tenant("zlate", "shop.example.com"))
    write(
        tmp_path / "apps.yaml",
        ingress("own", "shop.example.com"),
        ingress("x", "rival.example.com"),
    )
    done = run(str(tmp_path), "--format", "json", "--rule", "ingress-hosts")
    assert done.returncode == 1, done.stdout + done.stderr
    rows = json.loads(done.stdout)["findings"]
    assert [(r["object"], r["field"]) for r in rows] == [
        ("Ingress shop-dev/x", "spec.rules[host=rival.example.com].host")
    ]
    assert "not held by tenant shop (it holds: shop.example.com)" in rows[0]["message"]


# -- start-up: what `mooring check` of plain manifests loads -----------------------------------

# Each of these costs tens of milliseconds of a CI step's start-up (issue 13: one small file
# in under 300 ms): the API models (pydantic), rich, the cluster client, the operator
# framework, worker processes. Plain manifests need none of them. Structural, not timed.
# tempfile (with shutil and random, about 5 ms) only when a compiled program is cached.
HEAVY = (
    "pydantic",
    "rich",
    "httpx",
    "lightkube",
    "kopf",
    "asyncio",
    "multiprocessing",
    "tempfile",
)
PROBE = """
import atexit, sys
atexit.register(lambda: sys.__stderr__.write("MODULES " + " ".join(sorted(sys.modules)) + "\\n"))
from mooring.cli.main import main
sys.argv = ["mooring", *sys.argv[1:]]
main()
"""


def modules_loaded_by(
    *args: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `mooring ARGS` in a fresh interpreter; the modules loaded by its end."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    (line,) = [line for line in done.stderr.splitlines() if line.startswith("MODULES ")]
    return done, set(line.split()[1:])


def loaded_by(*args: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `mooring ARGS` in a fresh interpreter; the top-level packages loaded by its end
    (imported: `mooring check`'s stand-in for pydantic's plugin loader is in sys.modules
    before pydantic is, and counts only once pydantic is imported)."""
    done, modules = modules_loaded_by(*args)
    return done, {name for name in modules if "." not in name}


@pytest.mark.parametrize("fmt", ["text", "json", "junit", "sarif", "github"])
def test_checking_plain_manifests_loads_no_models_rich_or_cluster_client(
    tmp_path: Path, fmt: str
) -> None:
    path = write(tmp_path / "app.yaml", good(), latest())
    done, loaded = loaded_by("check", "-o", fmt, str(path))
    assert done.returncode == 1, done.stderr  # judged: the latest tag is found
    assert "image-tag" in done.stdout
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_importing_the_check_command_loads_no_models_rich_or_cluster_client() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, mooring.cli.main, mooring.cli.check; "
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert not set(done.stdout.split()) & set(HEAVY)


def test_a_platform_file_or_a_terminal_loads_what_they_need(tmp_path: Path) -> None:
    """The twin of the tests above: the probe sees the models when a PlatformConfig is read
    (and rich when an error is written to a terminal, in test_cli_conventions)."""
    platform = ROOT / "examples" / "platform" / "platform.yaml"
    path = write(tmp_path / "app.yaml", good(), latest())
    done, loaded = loaded_by("check", "--platform", str(platform), str(path))
    assert done.returncode == 1, done.stderr
    assert "invalid" not in done.stderr and "image-tag" in done.stdout
    assert "pydantic" in loaded
    assert "rich" not in loaded  # not a terminal


def test_a_platform_file_loads_no_pydantic_plugin_search(tmp_path: Path) -> None:
    """pydantic's plugin search imports importlib.metadata (about 20 ms of one small file's
    start-up); `mooring check` finds no plugins without it, unless plugins are named."""
    platform = ROOT / "examples" / "platform" / "platform.yaml"
    path = write(tmp_path / "app.yaml", good(), latest())
    done, modules = modules_loaded_by("check", "--platform", str(platform), str(path))
    assert done.returncode == 1 and "image-tag" in done.stdout, done.stderr
    assert "pydantic.main" in modules and "importlib.metadata" not in modules
    # The twin: a user who names the plugins to leave out gets pydantic's own search.
    env = {**os.environ, "PYDANTIC_DISABLE_PLUGINS": "logfire"}
    done, modules = modules_loaded_by("check", "--platform", str(platform), str(path), env=env)
    assert done.returncode == 1 and "image-tag" in done.stdout, done.stderr
    assert "importlib.metadata" in modules


def test_the_pydantic_plugin_loader_mooring_check_replaces_is_still_pydantics() -> None:
    # What the stand-in provides is what pydantic asks of its loader: a pydantic upgrade
    # that changes that fails here (cli/check.py _no_pydantic_plugins).
    from pydantic.plugin import _loader, _schema_validator

    assert not inspect.signature(_loader.get_plugins).parameters
    assert "from ._loader import get_plugins" in inspect.getsource(_schema_validator)


def test_the_native_quick_check_changes_no_finding_of_a_large_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large input uses the native quick check from its first object (a small one from
    each kind's NATIVE_FROMth): the same findings as without it, in the same order."""
    from datetime import UTC, datetime

    from mooring.core.policy import engine
    from mooring.services import check

    documents = [latest(f"app-{n}") if n % 5 == 0 else good() for n in range(800)]
    for n in range(0, 800, 20):
        write(tmp_path / "many" / f"f{n:04d}.yaml", *documents[n : n + 20])
    now = datetime(2026, 1, 1, tzinfo=UTC)
    large = check.check([str(tmp_path / "many")], now=now)
    assert sum(p.stat().st_size for p in (tmp_path / "many").iterdir()) >= (
        check.NATIVE_ALL_FROM_BYTES
    )
    assert large.setup.native_from == 0
    small = check.check([str(tmp_path / "many" / "f0000.yaml")], now=now)
    assert small.setup.native_from == check.NATIVE_FROM
    monkeypatch.setattr(engine, "native_check", lambda *_args: None)
    without = check.check([str(tmp_path / "many")], now=now)
    assert [(f.finding, f.position) for f in large.findings] == [
        (f.finding, f.position) for f in without.findings
    ]
    assert len({f.finding.object for f in large.findings}) == 160
