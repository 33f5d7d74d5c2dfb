"""`mooring check`'s worker processes: they read while the parent reads the setup, judge with
what the parent settled for their namespaces, and a worker that fails or dies is an error
naming its cause, never a silent gap in the findings."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mooring.services import check as service
from tests.policy_cases import container, pod_spec, workload

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TENANT = {
    "apiVersion": "mooring.dev/v1alpha1",
    "kind": "Tenant",
    "metadata": {"name": "acme"},
    "spec": {
        "owners": {"users": ["alice"]},
        "environments": [{"name": "dev"}],
        "guardrails": [{"rule": "image-tag", "mode": "audit"}],
    },
}


def _write(path: Path, *documents: Any) -> str:
    path.write_text(yaml.safe_dump_all(documents, sort_keys=False))
    return str(path)


def _inputs(tmp_path: Path) -> list[str]:
    """Two files of pinned-tag violations without a namespace, and a tenant file."""
    latest = container(image="ghcr.io/acme/app:latest")
    return [
        _write(tmp_path / f"apps-{n}.yaml", workload("Deployment", pod_spec(latest), name=f"a{n}"))
        for n in range(2)
    ] + [_write(tmp_path / "tenant.yaml", TENANT)]


def _run(paths: list[str], jobs: int, namespace: str | None = "acme-dev") -> service.Outcome:
    return service.check(paths, now=NOW, namespace=namespace, jobs=jobs, parallel_from=0)


def test_workers_judge_in_the_default_namespace_with_its_tenants_modes(tmp_path: Path) -> None:
    paths = _inputs(tmp_path)
    serial, parallel = _run(paths, jobs=1), _run(paths, jobs=2)
    assert [(f.finding, f.position) for f in parallel.findings] == [
        (f.finding, f.position) for f in serial.findings
    ]
    modes = {(f.finding.object, f.finding.mode) for f in parallel.findings}
    assert modes >= {("Deployment a0", "audit"), ("Deployment a1", "audit")}
    elsewhere = _run(paths, jobs=2, namespace="elsewhere")
    assert ("Deployment a0", "enforce") in {
        (f.finding.object, f.finding.mode) for f in elsewhere.findings
    }
    assert parallel.setup.tenants and parallel.judged == serial.judged == 2


def test_a_failing_worker_is_an_error_with_its_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> Any:
        raise ValueError("judging broke here")

    monkeypatch.setattr(service, "judge_parsed", broken)
    with pytest.raises(RuntimeError, match=r"(?s)worker process failed.*judging broke here"):
        _run(_inputs(tmp_path), jobs=2)


def test_a_worker_that_dies_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(service, "judge_parsed", lambda *_, **__: os._exit(3))
    with pytest.raises(RuntimeError, match="stopped without an answer"):
        _run(_inputs(tmp_path), jobs=2)


def test_an_error_while_reading_the_setup_stops_the_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any) -> None:
        raise ValueError("the setup broke")

    forked: list[int] = []
    fork = service._fork

    def recorded(*args: Any) -> Any:
        pid, link = fork(*args)
        forked.append(pid)
        return pid, link

    monkeypatch.setattr(service, "read_setup", broken)
    monkeypatch.setattr(service, "_fork", recorded)
    with pytest.raises(ValueError, match="the setup broke"):
        _run(_inputs(tmp_path), jobs=2)
    assert len(forked) == 2
    for pid in forked:  # each worker stopped and reaped: none left running
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
