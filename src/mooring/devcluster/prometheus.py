"""Debian's Prometheus against the local control plane, as a component of `mooring dev`.

What it scrapes, all real endpoints:
- kwok's kubelet-style `/metrics/nodes/<node>/metrics/resource` for every fake node, found
  through kwok's `/discovery/prometheus`: `container_cpu_usage_seconds_total`,
  `container_memory_working_set_bytes` (and pod/node variants), from the usage that pods
  declare in their `kwok.x-k8s.io/usage-cpu` / `usage-memory` annotations (devcluster/kwok.yaml);
- the kube-scheduler's `/metrics/resources`: `kube_pod_resource_request` and
  `kube_pod_resource_limit` per pod and resource (what kube-state-metrics would give);
- the kube-apiserver's `/metrics`;
- any extra static targets (the operator's /metrics) and rule files a caller adds.

Side effects: writes `prometheus/prometheus.yml` and a client certificate under the state
folder, starts `prometheus` through `DevCluster.attach` (so `mooring dev down` stops it) and
reloads it when the configuration changes.
"""

from __future__ import annotations

import json
import shutil
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from mooring.devcluster import pki
from mooring.devcluster.cluster import (
    METRICS_READER,
    DevCluster,
    DevClusterError,
    State,
    free_port,
    http_ok,
)

COMPONENT = "prometheus"
# kwok serves every node's metrics on one port; the node is in the path.
NODE_FROM_PATH = r"/metrics/nodes/([^/]+)/.*"


def prometheus_binary() -> str:
    binary = shutil.which("prometheus")
    if binary is None:
        raise DevClusterError(
            "Debian's prometheus is not installed; run scripts/bootstrap "
            "(it installs the `prometheus` package)"
        )
    return binary


def scrape_config(
    state: State,
    credentials: Path,
    extra_jobs: Mapping[str, Sequence[str]] = {},
    rule_files: Sequence[Path] = (),
    interval: str = "5s",
) -> dict[str, Any]:
    """Prometheus's configuration for this control plane (pure but for the paths it names).

    `credentials` holds ca.crt and the scraper's client certificate (prometheus.crt/.key).
    `extra_jobs` maps a job name to `host:port` targets scraped over plain HTTP.
    """
    tls = {
        "ca_file": str(credentials / "ca.crt"),
        "cert_file": str(credentials / "prometheus.crt"),
        "key_file": str(credentials / "prometheus.key"),
    }
    # The scheduler serves with a certificate it made for itself at start (no SAN to check).
    self_signed = {**tls, "insecure_skip_verify": True}
    components = state.components
    jobs: list[dict[str, Any]] = [
        {
            "job_name": "kwok-resource",
            "http_sd_configs": [
                {"url": f"http://127.0.0.1:{components['kwok'].port}/discovery/prometheus"}
            ],
            "relabel_configs": [
                {
                    "source_labels": ["__metrics_path__"],
                    "regex": NODE_FROM_PATH,
                    "target_label": "node",
                    "replacement": "$1",
                },
            ],
        },
        {
            "job_name": "kube-scheduler-resources",
            "scheme": "https",
            "metrics_path": "/metrics/resources",
            "tls_config": self_signed,
            "static_configs": [{"targets": [f"127.0.0.1:{components['kube-scheduler'].port}"]}],
        },
        {
            "job_name": "kube-apiserver",
            "scheme": "https",
            "tls_config": tls,
            "static_configs": [{"targets": [f"127.0.0.1:{state.api_port}"]}],
        },
    ]
    for name, targets in sorted(extra_jobs.items()):
        jobs.append({"job_name": name, "static_configs": [{"targets": list(targets)}]})
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": jobs,
    }


class DevPrometheus:
    """The dev cluster's Prometheus: start it, point it at more targets or rules, query it."""

    def __init__(self, cluster: DevCluster) -> None:
        self.cluster = cluster
        self.dir = cluster.dir / "prometheus"
        self.config_path = self.dir / "prometheus.yml"
        self.extra_jobs: dict[str, list[str]] = {}
        self.rule_files: list[Path] = []
        self.interval = "5s"

    @property
    def url(self) -> str:
        state = self._state()
        component = state.components.get(COMPONENT)
        if component is None:
            raise DevClusterError("Prometheus is not running; start it with `mooring dev up`")
        return f"http://127.0.0.1:{component.port}"

    def start(
        self,
        extra_jobs: Mapping[str, Sequence[str]] = {},
        rule_files: Sequence[Path] = (),
        interval: str = "5s",
        timeout: float = 60,
    ) -> str:
        """Start Prometheus (or reconfigure the running one) with exactly these extra jobs
        and rule files; return its URL."""
        self.extra_jobs = {name: list(targets) for name, targets in extra_jobs.items()}
        self.rule_files = list(rule_files)
        self.interval = interval
        state = self._state()
        self._write(state)
        if COMPONENT in state.components and self.cluster.component_alive(COMPONENT):
            self.reload()
            return self.url
        port = free_port()
        argv = [
            prometheus_binary(),
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--web.enable-lifecycle",  # POST /-/reload after a configuration change
            "--storage.tsdb.retention.time=2d",
            "--log.level=warn",
        ]
        self.cluster.attach(
            COMPONENT, argv, port, lambda p: http_ok(f"http://127.0.0.1:{p}/-/ready"), timeout
        )
        return self.url

    def add(self, jobs: Mapping[str, Sequence[str]] = {}, rule_files: Sequence[Path] = ()) -> None:
        """Scrape more targets and load more rule files, keeping what is there; reload."""
        self.extra_jobs.update({name: list(targets) for name, targets in jobs.items()})
        self.rule_files.extend(path for path in rule_files if path not in self.rule_files)
        self._write(self._state())
        self.reload()

    def reload(self) -> None:
        request = urllib.request.Request(f"{self.url}/-/reload", method="POST")
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.URLError as error:
            raise DevClusterError(
                f"Prometheus did not take its new configuration ({error}); "
                f"check {self.config_path} with `promtool check config`"
            ) from error

    def wait_for(self, expression: str, timeout: float = 60) -> list[dict[str, Any]]:
        """Poll an instant query until it returns series; the series, or an error naming it."""
        deadline = time.monotonic() + timeout
        while True:
            result = query(self.url, expression)
            if result:
                return result
            if time.monotonic() > deadline:
                raise DevClusterError(f"no series for {expression!r} within {timeout} s")
            time.sleep(0.5)

    def _state(self) -> State:
        state = self.cluster.state()
        if state is None or not self.cluster.running():
            raise DevClusterError("the local control plane is not running; run `mooring dev up`")
        return state

    def _write(self, state: State) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if not (self.dir / "prometheus.crt").is_file():
            ca = self.cluster.ca()
            (self.dir / "ca.crt").write_bytes(ca.cert)
            pki.make_client(ca, METRICS_READER).write(self.dir, "prometheus")
        config = scrape_config(state, self.dir, self.extra_jobs, self.rule_files, self.interval)
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))


def query(url: str, expression: str, timeout: float = 10) -> list[dict[str, Any]]:
    """An instant query's result vector (`[]` when nothing matches)."""
    address = f"{url}/api/v1/query?{urllib.parse.urlencode({'query': expression})}"
    with urllib.request.urlopen(address, timeout=timeout) as response:
        body = json.loads(response.read())
    if body.get("status") != "success":
        raise DevClusterError(f"Prometheus refused {expression!r}: {body.get('error')}")
    result: list[dict[str, Any]] = body["data"]["result"]
    return result
