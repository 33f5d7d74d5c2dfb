"""Benchmark: what the tenants' baseline alerts cost Prometheus (Debian's), per tenant or
written once cluster-wide.

Two layouts of the same alerts, evaluated by the same Prometheus binary in the same run
against the same series:
- per-tenant: what Mooring renders (one rule group per tenant namespace, every selector
  narrowed to the namespace, per-tenant thresholds possible);
- cluster-wide (the floor): the alerts written once for every namespace, the tenant
  joined from kube_namespace_labels (one group, one threshold for everyone).

The series imitate kube-state-metrics, the kubelet, cAdvisor, the kube-scheduler and
Mooring's operator for N tenant namespaces (about 50 series each), served by a small HTTP
server on 127.0.0.1 and scraped every 15 s; rules are evaluated every 15 s. Figures after a
warm-up: the CPU the Prometheus process uses (process_cpu_seconds_total over the window)
minus that of a run with no rules (scraping alone), i.e. what evaluating the rules costs;
the sum of `prometheus_rule_group_last_duration_seconds` (wall time, inflated when groups
run concurrently on a busy machine), missed iterations, and the resident memory.

Usage: .venv/bin/python benchmarks/observe_rules.py [--tenants 1000] [--measure 90]
"""

from __future__ import annotations

import argparse
import http.server
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from mooring.api.platform import PlatformConfig
from mooring.api.tenant import Tenant
from mooring.core.observe.rules import cluster_wide_rule_file
from mooring.core.render import Context
from mooring.core.render.observe import rule_file
from mooring.devcluster.cluster import free_port

PLATFORM = PlatformConfig.model_validate(
    {
        "apiVersion": "mooring.dev/v1alpha1",
        "kind": "PlatformConfig",
        "metadata": {"name": "default"},
        "spec": {
            "defaultTier": "small",
            "tiers": {"small": {"quota": {"cpu": "4", "memory": "8Gi", "pods": 20}}},
        },
    }
).spec


def tenant(index: int) -> Tenant:
    return Tenant.model_validate(
        {
            "apiVersion": "mooring.dev/v1alpha1",
            "kind": "Tenant",
            "metadata": {"name": f"t{index:04d}"},
            "spec": {"owners": {"users": ["x"]}, "environments": [{"name": "dev"}]},
        }
    )


def exposition(tenants: int) -> bytes:
    """The series of `tenants` namespaces in the text exposition format."""
    lines: list[str] = []
    ksm = 'job="kube-state-metrics"'
    kubelet = 'job="kubelet",metrics_path="/metrics"'
    cadvisor = 'job="kubelet",metrics_path="/metrics/cadvisor"'
    resource = 'job="kubelet",metrics_path="/metrics/resource"'
    mooring = 'job="mooring-operator"'
    for index in range(tenants):
        name = f"t{index:04d}"
        ns = f'namespace="{name}-dev"'
        lines.append(f'kube_namespace_labels{{{ksm},{ns},label_mooring_dev_tenant="{name}"}} 1')
        for pod in ("a", "b", "c"):
            p = f'{ns},pod="{pod}"'
            c = f'{p},container="app"'
            lines += [
                "kube_pod_container_status_waiting_reason"
                f'{{{ksm},{c},reason="CrashLoopBackOff"}} 0',
                f'kube_pod_owner{{{ksm},{p},owner_kind="ReplicaSet"}} 1',
                f"kube_pod_container_status_restarts_total{{{ksm},{c}}} {index % 3}",
                f'kube_pod_container_status_last_terminated_reason{{{ksm},{c},reason="Error"}} 1',
                f"container_memory_working_set_bytes{{{resource},{c}}} {100 + index}",
                f'kube_pod_resource_limit{{{p},resource="memory"}} 1000',
                f'kube_pod_resource_request{{{p},resource="cpu"}} 0.5',
                f'kube_pod_resource_request{{{p},resource="memory"}} 1000000',
                f"container_cpu_cfs_throttled_periods_total{{{cadvisor},{c}}} {index}",
                f"container_cpu_cfs_periods_total{{{cadvisor},{c}}} {index * 10 + 1}",
            ]
            lines += [
                f'kube_pod_status_phase{{{ksm},{p},phase="{phase}"}} {int(phase == "Running")}'
                for phase in ("Pending", "Running", "Succeeded", "Failed", "Unknown")
            ]
        d = f'{ns},deployment="api"'
        lines += [
            f"kube_deployment_spec_replicas{{{ksm},{d}}} 3",
            f"kube_deployment_status_replicas_available{{{ksm},{d}}} 3",
            f"kube_deployment_status_replicas_updated{{{ksm},{d}}} 3",
            f'kube_job_failed{{{ksm},{ns},job_name="nightly",condition="true"}} 0',
            f'kube_cronjob_status_last_successful_time{{{ksm},{ns},cronjob="db-backup"}} 0',
            f'mooring_guardrail_violations{{{mooring},tenant="{name}",rule="r",mode="audit"}} 0',
            f'mooring_database_ready{{{mooring},{ns},database="db"}} 1',
        ]
        for resource_name, hard in (("requests.cpu", 4), ("requests.memory", 8e9), ("pods", 20)):
            r = f'{ns},resource="{resource_name}"'
            lines += [
                f'kube_resourcequota{{{ksm},{r},type="hard"}} {hard}',
                f'kube_resourcequota{{{ksm},{r},type="used"}} {hard / 2}',
            ]
        v = f'{kubelet},{ns},persistentvolumeclaim="data"'
        lines += [
            f"kubelet_volume_stats_available_bytes{{{v}}} 50",
            f"kubelet_volume_stats_capacity_bytes{{{v}}} 100",
            f"kubelet_volume_stats_used_bytes{{{v}}} 50",
        ]
    return ("\n".join(lines) + "\n").encode()


def serve(body: bytes) -> tuple[http.server.HTTPServer, int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: Any) -> None:
            return

    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, port


def scrape(url: str) -> dict[str, list[tuple[str, float]]]:
    with urllib.request.urlopen(url, timeout=120) as response:
        text = response.read().decode()
    found: dict[str, list[tuple[str, float]]] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        name = series.split("{", 1)[0]
        found.setdefault(name, []).append((series, float(value)))
    return found


def _cpu(metrics: dict[str, list[tuple[str, float]]]) -> float:
    return sum(v for _, v in metrics.get("process_cpu_seconds_total", []))


def _completed(metrics: dict[str, list[tuple[str, float]]]) -> float:
    """Group evaluations done (scheduled minus missed), summed over groups."""
    scheduled = sum(v for _, v in metrics.get("prometheus_rule_group_iterations_total", []))
    missed = sum(v for _, v in metrics.get("prometheus_rule_group_iterations_missed_total", []))
    return scheduled - missed


def run(layout: str, rule_dir: Path, target: int, measure: float, root: Path) -> dict[str, float]:
    binary = shutil.which("prometheus")
    assert binary, "Debian's prometheus is not installed; run scripts/bootstrap"
    port = free_port()
    config = root / f"{layout}.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "15s", "evaluation_interval": "15s"},
                "rule_files": [str(rule_dir / "*.yaml")],
                "scrape_configs": [
                    {
                        "job_name": "synthetic",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{target}"]}],
                    }
                ],
            }
        )
    )
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={root / (layout + '-data')}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        while True:
            try:
                with urllib.request.urlopen(f"{url}/-/ready", timeout=2):
                    break
            except OSError:
                assert process.poll() is None, "prometheus exited"
                assert time.monotonic() - started < 900, "prometheus not ready"
                time.sleep(0.5)
        time.sleep(45)  # a few scrapes and evaluation rounds
        rounds, rss, missed, groups, rules = [], [], 0.0, 0, 0
        first = scrape(f"{url}/metrics")
        cpu_start, at_start = _cpu(first), time.monotonic()
        done_start = _completed(first)
        deadline = at_start + measure
        metrics = first
        while time.monotonic() < deadline:
            time.sleep(15)
            metrics = scrape(f"{url}/metrics")
            durations = metrics.get("prometheus_rule_group_last_duration_seconds", [])
            groups = len(durations)
            rounds.append(sum(v for _, v in durations))
            rules = int(sum(v for _, v in metrics.get("prometheus_rule_group_rules", [])))
            rss.append(metrics["process_resident_memory_bytes"][0][1])
        missed = sum(v for _, v in metrics.get("prometheus_rule_group_iterations_missed_total", []))
        cores = (_cpu(metrics) - cpu_start) / (time.monotonic() - at_start)
        return {
            "cpu_s": _cpu(metrics) - cpu_start,
            "rounds": (_completed(metrics) - done_start) / max(groups, 1),
            "groups": groups,
            "rules": rules,
            "cores": cores,
            "round_ms": statistics.median(rounds) * 1000 if rounds else 0.0,
            "rss_mib": max(rss) / 2**20,
            "missed": missed,
        }
    finally:
        process.terminate()
        try:
            process.wait(timeout=120)  # it compacts its head block first; busy with 1000 groups
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--measure", type=float, default=90)
    args = parser.parse_args()
    print(f"load before: {os.getloadavg()}")
    body = exposition(args.tenants)
    server, target = serve(body)
    print(f"{args.tenants} tenant namespaces, {len(body.splitlines())} series", flush=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="mooring-rules-") as tmp:
        root = Path(tmp)
        folders = {name: root / name for name in ("no-rules", "cluster-wide", "per-tenant")}
        for folder in folders.values():
            folder.mkdir()
        for index in range(args.tenants):
            document = rule_file(Context(tenant(index), PLATFORM))
            (folders["per-tenant"] / f"t{index:04d}.yaml").write_text(yaml.safe_dump(document))
        (folders["cluster-wide"] / "baseline.yaml").write_text(
            yaml.safe_dump(cluster_wide_rule_file(PLATFORM.observe))
        )
        for layout, folder in folders.items():
            results[layout] = run(layout, folder, target, args.measure, root)
            print(f"{layout}: {results[layout]}", flush=True)
    server.shutdown()
    scrape_only = results["no-rules"]["cores"]
    print()
    print(
        "| layout | groups | rules | CPU for rules (cores over no rules) | rounds done "
        "| CPU per complete round | missed group rounds | RSS |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    per_round: dict[str, float] = {}
    for layout, r in results.items():
        cost = r["cores"] - scrape_only
        if r["rounds"]:
            window = r["cpu_s"] / r["cores"] if r["cores"] else 0.0
            per_round[layout] = cost * window / r["rounds"]
        print(
            f"| {layout} | {r['groups']:.0f} | {r['rules']:.0f} | {cost:.3f} | "
            f"{r['rounds']:.1f} | {per_round.get(layout, 0) * 1000:.0f} ms | {r['missed']:.0f} | "
            f"{r['rss_mib']:.0f} MiB |"
        )
    if per_round.get("cluster-wide"):
        ratio = per_round["per-tenant"] / per_round["cluster-wide"]
        print(f"\nper-tenant / cluster-wide, CPU per complete round: x{ratio:.1f}")
    print(f"load after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
