"""The demo: the local control plane and the whole platform, working on example tenants.

Side effects: starts the local control plane (and the operator, attached to it so that
`mooring dev down` stops both), applies Mooring and the example platform repository, acts
as tenant members would, and prints what happened. Safe to run again: each step finds
what is already there.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mooring.api.tenant import Tenant
from mooring.core.observe.routing import alertmanager_config
from mooring.core.policy.report import REPORT_NAME
from mooring.core.render import Context
from mooring.core.render.observe import DASHBOARD_CONFIGMAP, rule_file
from mooring.demo import cost, story
from mooring.demo.localgitops import LocalGitOps, start_operator
from mooring.devcluster.binaries import ensure_built, repository_root
from mooring.devcluster.cluster import DevCluster
from mooring.devcluster.postgres import LocalPostgres
from mooring.devcluster.prometheus import DevPrometheus, query
from mooring.kube.client import Forbidden, Kube, KubeError
from mooring.services.databases import register_server, try_database
from mooring.services.tenants import load_platform

API = "mooring.dev/v1alpha1"
Say = Callable[[str], None]


@dataclass
class Demo:
    cluster: DevCluster
    say: Say
    examples: Path
    gitops: LocalGitOps = field(init=False)

    # -- steps ---------------------------------------------------------------------------------

    def run(self) -> None:
        started = time.monotonic()
        self.step(
            "1. The local control plane (etcd, kube-apiserver, controller-manager, "
            "scheduler, kwok nodes)"
        )
        self.cluster.up(say=self.say)
        self.step(
            "2. Argo CD (built from its Go module) and the platform repository: `mooring init`, "
            "the first commit, Argo CD syncs Mooring, the PlatformConfig and the teams"
        )
        self.gitops = story.platform_from_git(self.cluster, self.examples, self.say)
        self.step("3. The operator (as its ServiceAccount, least privilege)")
        self._operator()
        asyncio.run(self._tenants())
        self.step("11. A team opens a pull request; CI validates it; merged; Argo CD syncs it")
        asyncio.run(story.pull_request(self.gitops, self.say))
        self.step("12. A broken change: Argo CD shows the Application Degraded, with Mooring's why")
        asyncio.run(story.broken_change(self.gitops, self.say))
        self.say("")
        self.say(f"demo finished in {time.monotonic() - started:.1f} s. Explore:")
        self.say(f"  export KUBECONFIG={self.cluster.kubeconfig_path}")
        kubectl = ensure_built(say=self.say)["kubectl"]
        self.say(f"  {kubectl} get tenants")
        self.say(f"  {kubectl} get applications -n argocd")
        self.say(f"  git clone {self.gitops.repo.url} platform   # push to it: Argo CD syncs")
        self.say(f"  {kubectl} get ns -l app.kubernetes.io/managed-by=mooring --show-labels")
        self.say(f"  .venv/bin/mooring validate {self.examples}")
        self.say("  .venv/bin/mooring db list --namespace payments-dev")
        self.say("  .venv/bin/mooring cost report --window 1h --step 1m -o html --write cost.html")
        self.say(
            "  .venv/bin/mooring dev down   # stops the operator, PostgreSQL and the control plane"
        )

    def step(self, title: str) -> None:
        self.say("")
        self.say(f"== {title}")

    def _operator(self) -> None:
        # status.cost refreshed every few seconds, for the cost chapter to show it
        component = start_operator(self.cluster, "--cost-refresh-seconds", "5")
        self.say(
            f"  running as pid {component.pid}; metrics on http://127.0.0.1:"
            f"{component.port}/metrics; log {component.log}"
        )

    async def _tenants(self) -> None:
        async with self._kube() as kube:
            self.step("4. Tenants reconciled: namespaces, access, quota, defaults, network")
            tenants = await self._wait_ready(kube)
            for tenant in tenants:
                status = tenant["status"]
                names = ", ".join(n["name"] for n in status["namespaces"])
                self.say(
                    f"  {tenant['metadata']['name']:<10} tier {status['tier']:<7} "
                    f"Ready  namespaces: {names}"
                )
            await self._member(kube)
            await self._drift(kube)
            await self._guardrails(kube)
            await self._database(kube)
            await self._observe(kube)
            self.step("10. Cost: before a pull request merges, and as tenants run")
            await cost.chapter(self.cluster, kube, self.say, self.examples)

    async def _wait_ready(self, kube: Kube, timeout: float = 60) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            tenants = await kube.list(API, "Tenant")
            ready = [
                t
                for t in tenants
                if (t.get("status") or {}).get("ready") == "True"
                and t["status"].get("observedGeneration") == t["metadata"]["generation"]
            ]
            if tenants and len(ready) == len(tenants):
                return sorted(tenants, key=lambda t: t["metadata"]["name"])
            if time.monotonic() > deadline:
                waiting = sorted(
                    {t["metadata"]["name"] for t in tenants}
                    - {t["metadata"]["name"] for t in ready}
                )
                raise RuntimeError(f"tenants not Ready after {timeout} s: {', '.join(waiting)}")
            await asyncio.sleep(0.2)

    async def _member(self, kube: Kube) -> None:
        self.step("5. A developer of payments (group payments-devs), with their own kubeconfig")
        path = self.cluster.dir / "dora.kubeconfig"
        path.write_text(self.cluster.mint_kubeconfig("dora@example.com", ["payments-devs"]))
        async with Kube.from_kubeconfig(path) as dora:
            api = _documents(self.examples.parent / "workloads" / "payments-api.yaml")[0]
            await dora.apply(api)
            self.say("  deployed payments-dev/api (examples/workloads/payments-api.yaml): allowed")
            view = await dora.get(API, "TenantView", "payments", "payments-dev")
            self.say(
                "  read her tenant (kubectl get tenantview payments -n payments-dev): Ready "
                f"{(view.get('status') or {}).get('ready')}: allowed"
            )
            for what, attempt in (
                (
                    "read tenant checkout",
                    dora.get(API, "TenantView", "checkout", "checkout-dev"),
                ),
                (
                    "deploy into checkout-dev",
                    dora.apply({**api, "metadata": {"name": "api", "namespace": "checkout-dev"}}),
                ),
                ("read secrets in checkout-prod", dora.list("v1", "Secret", "checkout-prod")),
                (
                    "raise the quota in payments-dev",
                    dora.patch(
                        "v1",
                        "ResourceQuota",
                        "mooring-quota",
                        {"spec": {"hard": {"pods": "999"}}},
                        namespace="payments-dev",
                    ),
                ),
                (
                    "delete the default-deny NetworkPolicy",
                    dora.delete(
                        "networking.k8s.io/v1",
                        "NetworkPolicy",
                        "mooring-default-deny",
                        "payments-dev",
                    ),
                ),
            ):
                self.say(f"  {what}: {await _refused(attempt)}")
        pods = await self._running(kube, "payments-dev", "app=api", count=2)
        self.say(f"  pods of payments-dev/api Running on kwok nodes: {', '.join(pods)}")
        quota = await kube.get("v1", "ResourceQuota", "mooring-quota", "payments-dev")
        used, hard = quota["status"]["used"], quota["status"]["hard"]
        self.say(
            f"  quota used: cpu {used.get('requests.cpu')}/{hard.get('requests.cpu')}, "
            f"pods {used.get('pods')}/{hard.get('pods')}"
        )

    async def _running(self, kube: Kube, namespace: str, labels: str, count: int) -> list[str]:
        for _ in range(100):
            pods = await kube.list("v1", "Pod", namespace, labels=labels)
            if len(pods) >= count and all(p["status"].get("phase") == "Running" for p in pods):
                return [f"{p['metadata']['name']} on {p['spec']['nodeName']}" for p in pods]
            await asyncio.sleep(0.2)
        raise RuntimeError(f"pods {labels} in {namespace} not Running")

    async def _drift(self, kube: Kube) -> None:
        self.step("6. Drift: someone deletes a managed NetworkPolicy by hand")
        api, kind, name, namespace = (
            "networking.k8s.io/v1",
            "NetworkPolicy",
            "mooring-default-deny",
            "checkout-prod",
        )
        before = await kube.get(api, kind, name, namespace)
        await kube.delete(api, kind, name, namespace)
        deleted = time.monotonic()
        while True:
            now = await kube.get_or_none(api, kind, name, namespace)
            if now is not None and now["metadata"]["uid"] != before["metadata"]["uid"]:
                break
            if time.monotonic() - deleted > 10:
                raise RuntimeError("the NetworkPolicy was not restored")
            await asyncio.sleep(0.01)
        self.say(
            f"  {namespace}/{name} restored by the operator in "
            f"{(time.monotonic() - deleted) * 1000:.0f} ms"
        )

    async def _guardrails(self, kube: Kube) -> None:
        self.step("7. Guardrails: one rule set, the same verdict in CI, at admission, in the audit")
        workloads = self.examples.parent / "workloads"
        platform = self.examples / "platform.yaml"
        tenant = self.examples / "tenants" / "payments.yaml"
        self.say(
            f"  $ mooring check {workloads.name}/ --platform platform.yaml --tenant payments.yaml"
        )
        checked = subprocess.run(
            [
                sys.executable,
                "-m",
                "mooring.cli",
                "check",
                str(workloads),
                "--platform",
                str(platform),
                "--tenant",
                str(tenant),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        for line in checked.stdout.splitlines():
            self.say("    " + line.replace(str(workloads.parent) + "/", ""))
        self.say(f"    (exit {checked.returncode}: the pull request would not merge)")
        bad = _documents(workloads / "legacy-worker.yaml")[0]
        path = self.cluster.dir / "dora.kubeconfig"
        async with Kube.from_kubeconfig(path) as dora:
            # The operator installs the admission policies as it starts; wait for them.
            await _until_refused(dora, bad)
            try:
                await dora.create(bad)
                verdict = "ADMITTED (unexpected)"
            except KubeError as error:
                verdict = "refused: " + error.message.split("denied request: ", 1)[-1][:160]
        self.say(f"  the same Deployment applied by dora to payments-dev: {verdict}")
        analytics = {**bad, "metadata": {"name": "nightly", "namespace": "analytics-dev"}}
        template = analytics["spec"]["template"]["spec"]["containers"][0]
        analytics["spec"] = {
            **bad["spec"],
            "template": {
                **bad["spec"]["template"],
                "spec": {
                    "securityContext": {
                        "runAsNonRoot": True,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": template["name"],
                            "image": "registry.example.com/analytics/nightly:2.0.1",
                            "imagePullPolicy": "Always",
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        }
        carol = self.cluster.dir / "ann.kubeconfig"
        carol.write_text(self.cluster.mint_kubeconfig("ann@example.com", ["analytics"]))
        warnings: list[str] = []
        async with Kube.from_kubeconfig(carol) as ann:
            await ann.delete("apps/v1", "Deployment", "nightly", "analytics-dev")
            for _ in range(150):  # the warn-mode policy may still be on its way in
                warnings.clear()
                await ann.create(analytics, dry_run=True, warnings=warnings)
                if warnings:
                    break
                await asyncio.sleep(0.2)
            await ann.create(analytics, warnings=warnings)
        # "Validation failed for ValidatingAdmissionPolicy '...' with binding '...': <why>"
        said = warnings[0].rsplit("': ", 1)[-1][:150] if warnings else "no warning"
        self.say("  analytics (resources in warn mode for its migration) runs a job without")
        self.say(f"  limits: admitted, with the warning: {said}")
        report = await self._report(kube, "analytics-dev", "nightly")
        self.say(f"  and the audit's PolicyReport analytics-dev lists it: {report}")

    async def _report(self, kube: Kube, namespace: str, name: str) -> str:
        for _ in range(100):
            report = await kube.get_or_none(
                "wgpolicyk8s.io/v1alpha2", "PolicyReport", REPORT_NAME, namespace
            )
            for result in (report or {}).get("results", []):
                subjects = [r.get("name") for r in result.get("resources", [])]
                if name in subjects and result.get("result") in ("fail", "warn"):
                    return (
                        f"rule {result.get('rule')} {result.get('result')}: "
                        f"{result.get('message', '')[:100]}"
                    )
            await asyncio.sleep(0.2)
        raise RuntimeError(f"no PolicyReport result for {namespace}/{name}")

    async def _database(self, kube: Kube) -> None:
        self.step("8. A managed PostgreSQL database for payments-dev, and a query through it")
        server = self._postgres()
        admin = server.create_admin()
        await register_server(
            kube, "local", server.host, server.port, admin.username, admin.password
        )
        self.say(
            f"  shared server: Debian's PostgreSQL on {server.host}:{server.port}, "
            "registered in the PlatformConfig"
        )
        result = await try_database(kube, "payments-dev", "orders")
        self.say(
            f"  Database payments-dev/orders Ready; Secret {result.secret} holds the "
            "host, port, database, username, password and uri"
        )
        self.say(f"  with only those values: CREATE TABLE, INSERT, SELECT -> {result.rows}")
        self.say(f"  from asking to the answer: {result.seconds:.2f} s")

    async def _observe(self, kube: Kube) -> None:
        """Baseline alerts, routing and the dashboard; a real Prometheus evaluating them."""
        self.step("9. Observe: baseline alerts, routing, SLOs and a dashboard per tenant")
        raw = await kube.get(API, "Tenant", "payments")
        platform = await load_platform(kube)
        assert platform is not None
        tenant = Tenant.model_validate(raw)
        # The dev cluster's Prometheus names its scrape jobs its own way (no kube-state-
        # metrics here): point the rules at them, as a platform team does in platform.yaml.
        settings = platform.spec.observe.model_copy(
            update={
                "selectors": platform.spec.observe.selectors.model_copy(
                    update={
                        "resource_metrics": 'job="kwok-resource"',
                        "scheduler": 'job="kube-scheduler-resources"',
                    }
                )
            }
        )
        spec = platform.spec.model_copy(update={"observe": settings})
        groups = rule_file(Context(tenant, spec))["groups"]
        alerts = sum(1 for g in groups for r in g["rules"] if "alert" in r)
        self.say(
            f"  payments: {alerts} alert rules in {len(groups)} groups (baseline per namespace, "
            "the prod SLO's burn-rate pages and tickets); PrometheusRules where the Prometheus "
            "Operator runs, `mooring observe render` otherwise"
        )
        routes = alertmanager_config([tenant], spec.observe.alertmanager)
        receivers = ", ".join(r["name"] for r in routes["receivers"])
        self.say(
            f"  routing: critical -> PagerDuty and chat, the rest -> chat and e-mail ({receivers})"
        )
        dashboard = await kube.get("v1", "ConfigMap", DASHBOARD_CONFIGMAP, "payments-dev")
        self.say(
            f"  dashboard: ConfigMap payments-dev/{DASHBOARD_CONFIGMAP} labelled "
            "grafana_dashboard=1 for Grafana's sidecar"
        )
        assert dashboard["data"]
        rules = self.cluster.dir / "payments.rules.yaml"
        rules.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        prometheus = DevPrometheus(self.cluster)
        url = await asyncio.to_thread(prometheus.start, {}, [rules], "2s")
        pod = _documents(self.examples.parent / "workloads" / "payments-api.yaml")[0]
        hungry = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": "hungry",
                "namespace": "payments-dev",
                "labels": {"app": "hungry"},  # not the api Deployment's: it would adopt it
                "annotations": {"kwok.x-k8s.io/usage-memory": "120Mi"},
            },
            "spec": {
                **pod["spec"]["template"]["spec"],
                "containers": [
                    {
                        **pod["spec"]["template"]["spec"]["containers"][0],
                        "resources": {
                            "requests": {"cpu": "100m", "memory": "64Mi"},
                            "limits": {"cpu": "200m", "memory": "128Mi"},
                        },
                    }
                ],
            },
        }
        await kube.apply(hungry)
        self.say(
            f"  Debian's Prometheus at {url} loads them; pod payments-dev/hungry is made to "
            "use 120Mi of its 128Mi limit (kwok's simulated usage)"
        )
        expression = 'ALERTS{alertname="MooringPodMemoryNearLimit", pod="hungry"}'
        started = time.monotonic()
        for _ in range(150):
            found = await asyncio.to_thread(query, url, expression)
            if found:
                labels = found[0]["metric"]
                self.say(
                    f"  {labels['alertname']} {labels['alertstate']} after "
                    f"{time.monotonic() - started:.0f} s (tenant={labels['tenant']}, "
                    f"severity={labels['severity']}, runbook docs/runbooks/"
                    "MooringPodMemoryNearLimit.md)"
                )
                break
            await asyncio.sleep(1)
        else:
            raise RuntimeError("Prometheus did not evaluate the memory alert")

    def _postgres(self) -> LocalPostgres:
        """The demo's PostgreSQL server, started once and found again on the next run."""
        root = self.cluster.postgres_root
        port_file = root / "port"
        port = int(port_file.read_text()) if port_file.is_file() else None
        server = LocalPostgres(root, port)
        if not server.running():
            server.start()
            port_file.write_text(str(server.port))
        return server

    def _kube(self) -> Kube:
        return Kube.from_kubeconfig(self.cluster.kubeconfig_path)


async def _until_refused(kube: Kube, obj: dict[str, Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            await kube.create(obj, dry_run=True)
        except KubeError:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the guardrails' admission policies did not come into force")


async def _refused(attempt: Awaitable[Any]) -> str:
    try:
        await attempt
    except Forbidden as error:
        return f"denied ({error.message.split(':')[0]})"
    return "ALLOWED (unexpected)"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def run_demo(state_dir: Path | None, say: Say) -> None:
    examples = repository_root() / "examples" / "platform"
    Demo(DevCluster(state_dir), say, examples).run()
