"""Observability settings: alert thresholds, contacts, SLOs (Tenant) and the platform's side.

Pure models. A tenant's `spec.observe` says where its alerts go, which thresholds it wants
and which SLOs it keeps; the PlatformConfig's `spec.observe` (and each tier's
`alertThresholds`) set the defaults, the label selectors of the scrape jobs the rules read
and where runbooks live. SLO series are written as selectors (a metric name and label
matchers): Mooring adds the namespace matcher itself, so a tenant can never count another
tenant's series.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from mooring.api.base import DnsLabel, Model, unique

Duration = Annotated[
    str,
    Field(
        pattern=r"^[1-9][0-9]{0,3}(s|m|h|d)$",
        max_length=5,
        description="A Prometheus duration such as 30s, 15m, 1h or 2d.",
    ),
]
Percent = Annotated[int, Field(ge=1, le=100)]
SecretName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        description="The name of a Secret in each of the tenant's namespaces.",
    ),
]
SecretKey = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        pattern=r"^[-._a-zA-Z0-9]+$",
        description="A key of that Secret.",
    ),
]
Email = Annotated[
    str,
    Field(
        max_length=254,
        pattern=r"^[^@\s\"',{}]+@[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$",
        description="An e-mail address.",
    ),
]
MAX_CONTACTS = 16
MAX_SLOS = 32


class Thresholds(Model):
    """When the baseline alerts fire. Unset fields come from the tier, then the platform,
    then Mooring's defaults (those of the kubernetes-mixin where it has the alert)."""

    cpu_throttling_percent: Percent | None = Field(
        None, description="CPUThrottlingHigh: throttled share of CPU periods (default 25)."
    )
    quota_almost_full_percent: Annotated[int, Field(ge=1, le=99)] | None = Field(
        None, description="KubeQuotaAlmostFull: share of a quota in use (default 90)."
    )
    volume_free_percent: Percent | None = Field(
        None,
        description="KubePersistentVolumeFillingUp (warning): free space below this share "
        "and predicted to run out within four days (default 15).",
    )
    volume_critical_free_percent: Percent | None = Field(
        None,
        description="KubePersistentVolumeFillingUp (critical): free space below this share "
        "(default 3).",
    )
    memory_near_limit_percent: Percent | None = Field(
        None,
        description="MooringPodMemoryNearLimit: working set as a share of the pod's memory "
        "limit (default 90).",
    )
    backup_overdue_hours: Annotated[int, Field(ge=1, le=8760)] | None = Field(
        None,
        description="MooringDatabaseBackupOverdue: hours since the last successful backup "
        "(default 26).",
    )
    budget_forecast_percent: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        None,
        description="MooringTenantBudgetForecastExceeded: forecast spend as a share of the "
        "budget (default 100).",
    )
    pod_not_ready_for: Duration | None = Field(
        None, description="KubePodNotReady: how long a pod stays not ready (default 15m)."
    )
    crash_looping_for: Duration | None = Field(
        None, description="KubePodCrashLooping: how long a container crash loops (default 15m)."
    )
    container_waiting_for: Duration | None = Field(
        None, description="KubeContainerWaiting: how long a container waits (default 1h)."
    )
    replicas_mismatch_for: Duration | None = Field(
        None,
        description="KubeDeploymentReplicasMismatch / KubeStatefulSetReplicasMismatch: how "
        "long replicas stay short (default 15m).",
    )
    job_failed_for: Duration | None = Field(
        None, description="KubeJobFailed: how long a failed Job stays (default 15m)."
    )

    def over(self, base: Thresholds) -> Thresholds:
        """This object's set fields over `base` (tenant over tier over platform)."""
        return base.model_copy(update=self.model_dump(exclude_none=True))


DEFAULT_THRESHOLDS = Thresholds(
    cpu_throttling_percent=25,
    quota_almost_full_percent=90,
    volume_free_percent=15,
    volume_critical_free_percent=3,
    memory_near_limit_percent=90,
    backup_overdue_hours=26,
    budget_forecast_percent=100,
    pod_not_ready_for="15m",
    crash_looping_for="15m",
    container_waiting_for="1h",
    replicas_mismatch_for="15m",
    job_failed_for="15m",
)


class SecretKeyRef(Model):
    """A key of a Secret that exists in each of the tenant's namespaces (the tenant makes
    it; Mooring only names it, so the value never passes through Git)."""

    name: SecretName
    key: SecretKey


class SlackContact(Model):
    channel: str = Field(
        max_length=80,
        pattern=r"^#?[a-z0-9][-a-z0-9._]*$",
        description="The Slack channel, such as #payments-alerts.",
    )
    api_url: SecretKeyRef = Field(description="The Secret key holding the Slack webhook URL.")


class WebhookContact(Model):
    url: SecretKeyRef = Field(
        description="The Secret key holding the webhook's URL (URLs often carry a token)."
    )


class PagerDutyContact(Model):
    routing_key: SecretKeyRef = Field(
        description="The Secret key holding the PagerDuty Events API v2 routing key."
    )


class Contacts(Model):
    """Where the tenant's alerts go. Critical alerts (and SLO pages) page PagerDuty when it
    is set; every alert reaches the e-mail addresses, Slack channels and webhooks."""

    emails: list[Email] = Field(
        default_factory=list,
        max_length=MAX_CONTACTS,
        description="E-mail addresses that receive every alert.",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )
    slack: list[SlackContact] = Field(
        default_factory=list,
        max_length=MAX_CONTACTS,
        description="Slack channels that receive every alert.",
    )
    webhooks: list[WebhookContact] = Field(
        default_factory=list,
        max_length=MAX_CONTACTS,
        description="Webhooks (Alertmanager's JSON) that receive every alert.",
    )
    pagerduty: PagerDutyContact | None = Field(
        None, description="Paged for critical alerts and SLO pages."
    )

    def empty(self) -> bool:
        return not (self.emails or self.slack or self.webhooks or self.pagerduty)


# -- SLOs --------------------------------------------------------------------------------------

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_LABEL = r"[a-zA-Z_][a-zA-Z0-9_]*"
_STRING = r'"(?:[^"\\]|\\.)*"'
_MATCHER = re.compile(rf"\s*({_LABEL})\s*(=~|!~|!=|=)\s*({_STRING})\s*")
_SELECTOR = re.compile(rf"^\s*({_NAME})\s*(?:\{{(.*)\}})?\s*$", re.DOTALL)
Matcher = tuple[str, str, str]  # label, operator, quoted value


def parse_selector(text: str) -> tuple[str, list[Matcher]]:
    """A PromQL series selector `metric{label="value", ...}` as (metric, matchers).

    Pure. Raises ValueError naming what is wrong: anything but a plain selector (functions,
    operators, ranges) is refused, and so is a `namespace` matcher, which Mooring adds.
    """
    found = _SELECTOR.match(text)
    if found is None:
        raise ValueError(
            f"{text!r} is not a series selector; write a metric name with optional label "
            'matchers, such as http_requests_total{code!~"5.."}'
        )
    metric, body = found.group(1), found.group(2) or ""
    matchers: list[Matcher] = []
    rest = body.strip()
    while rest:
        item = _MATCHER.match(rest)
        if item is None:
            raise ValueError(f"cannot read the label matchers of {text!r} at {rest[:30]!r}")
        matchers.append((item.group(1), item.group(2), item.group(3)))
        rest = rest[item.end() :]
        if rest.startswith(","):
            rest = rest[1:].strip()
        elif rest:
            raise ValueError(f"expected ',' between the label matchers of {text!r}")
    for label, _, _ in matchers:
        if label in ("namespace", "tenant"):
            raise ValueError(
                f"{text!r} matches on {label!r}; leave it out: Mooring limits every SLO to "
                "the tenant's own namespaces"
            )
    return metric, matchers


Selector = Annotated[
    str,
    Field(
        min_length=1,
        max_length=1024,
        description="A PromQL series selector of a counter, such as "
        'http_requests_total{job="api",code!~"5.."}; no namespace matcher (Mooring adds '
        "the tenant's namespaces).",
    ),
]


class Slo(Model):
    """A service level objective: the share of good events over a rolling window.

    Mooring records the error ratio over the windows the SRE workbook's multi-window,
    multi-burn-rate alerts need and pages (1h/5m at 14.4x, 6h/30m at 6x) or opens a ticket
    (1d/2h at 3x, 3d/6h at 1x) when the error budget burns too fast.
    """

    name: DnsLabel = Field(description="The SLO's name, unique in the tenant.")
    description: str = Field("", max_length=512, description="What the SLO promises.")
    kind: Literal["availability", "latency"] = Field(
        "availability",
        description="availability: good = requests that did not fail; latency: good = "
        "requests faster than a bound (a histogram bucket).",
    )
    objective: str = Field(
        pattern=r"^(5[0-9]|[6-9][0-9])(\.[0-9]{1,3})?$",
        description="The objective in percent, from 50 to 99.999, such as 99.9.",
    )
    window: Literal["28d", "30d"] = Field("28d", description="The rolling window.")
    good: Selector = Field(description="Counter of good events.")
    total: Selector = Field(description="Counter of all events.")
    environments: list[DnsLabel] = Field(
        default_factory=list,
        max_length=16,
        description="The environments the SLO applies to (all when empty).",
        json_schema_extra={"x-kubernetes-list-type": "set"},
    )

    @field_validator("good", "total")
    @classmethod
    def _selector(cls, value: str) -> str:
        parse_selector(value)
        return value

    @property
    def target(self) -> Decimal:
        """The objective as a ratio (99.9 -> 0.999)."""
        return Decimal(self.objective) / 100

    @property
    def budget(self) -> Decimal:
        """The error budget as a ratio (99.9 -> 0.001)."""
        return 1 - self.target


class TenantObserve(Model):
    """The tenant's alerts, contacts and SLOs. The baseline alerts and dashboard come with
    every tenant; this only adjusts them and adds SLOs."""

    alert_thresholds: Thresholds = Field(
        default_factory=Thresholds,
        description="Overrides the tier's alert thresholds for this tenant.",
    )
    contacts: Contacts = Field(
        default_factory=Contacts, description="Where the tenant's alerts are sent."
    )
    slos: list[Slo] = Field(
        default_factory=list,
        max_length=MAX_SLOS,
        description="Service level objectives: recording rules, burn-rate alerts and an "
        "error-budget panel each.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
    )

    @model_validator(mode="after")
    def _unique_slos(self) -> TenantObserve:
        unique(self.slos, lambda slo: slo.name, "SLO")
        return self


class Selectors(Model):
    """Label matchers that pick the scrape jobs the rules read (without braces); empty
    matches any job."""

    kube_state_metrics: str = Field(
        'job="kube-state-metrics"', max_length=256, description="kube-state-metrics' series."
    )
    kubelet: str = Field(
        'job="kubelet", metrics_path="/metrics"',
        max_length=256,
        description="The kubelet's volume statistics.",
    )
    cadvisor: str = Field(
        'job="kubelet", metrics_path="/metrics/cadvisor"',
        max_length=256,
        description="cAdvisor's container series (CPU throttling, memory working set).",
    )
    resource_metrics: str = Field(
        'job="kubelet", metrics_path="/metrics/resource"',
        max_length=256,
        description="The kubelet's /metrics/resource (container memory working set).",
    )
    scheduler: str = Field(
        "",
        max_length=256,
        description="The kube-scheduler's /metrics/resources (pod requests and limits).",
    )
    mooring: str = Field(
        'job="mooring-operator"', max_length=256, description="Mooring's operator."
    )

    @field_validator("*")
    @classmethod
    def _matchers(cls, value: str) -> str:
        if value.strip():
            parse_selector(f"up{{{value}}}")
        return value


class AlertmanagerSettings(Model):
    """For a plain Alertmanager (no Prometheus Operator): what `mooring observe render`
    puts in the configuration it prints."""

    smtp_smarthost: str = Field(
        "localhost:25",
        max_length=253,
        pattern=r"^[A-Za-z0-9.-]+:[0-9]{1,5}$",
        description="The SMTP server e-mail contacts are sent through (host:port).",
    )
    smtp_from: Email = Field("alertmanager@example.org", description="The sender of alert e-mails.")
    secrets_dir: str = Field(
        "/etc/alertmanager/secrets",
        max_length=253,
        pattern=r"^/\S*$",
        description="Where tenants' Secrets are mounted: <dir>/<namespace>/<secret>/<key>.",
    )

    webhook_url_file: bool = Field(
        False,
        description="Alertmanager 0.26 and newer read a webhook's URL from a file (url_file); "
        "older ones cannot, so tenants' webhooks are left out of the printed configuration "
        "(with a warning) unless this is true.",
    )


class ObserveSettings(Model):
    """How the platform observes tenants: thresholds, scrape jobs, runbooks, rule labels."""

    alert_thresholds: Thresholds = Field(
        default_factory=Thresholds,
        description="The platform's thresholds (over Mooring's defaults, under the tiers').",
    )
    selectors: Selectors = Field(
        default_factory=Selectors, description="The scrape jobs the alert rules read."
    )
    rule_interval: Duration = Field(
        "30s",
        description="How often the tenants' rule groups are evaluated (kube-prometheus "
        "evaluates every 30s). Every baseline alert waits 1m or more and reads 5m windows, "
        "so 1m halves the cost with little delay.",
    )
    runbook_base_url: str = Field(
        "https://mooring.dev/docs/runbooks",
        max_length=512,
        pattern=r"^https?://\S+$",
        description="Where docs/runbooks is published; runbook_url is <base>/<alert>.md.",
    )
    rule_labels: dict[str, str] = Field(
        default_factory=dict,
        max_length=16,
        description="Labels every PrometheusRule carries, for the Prometheus's ruleSelector "
        "(for example release: kube-prometheus-stack).",
    )
    alertmanager_config_labels: dict[str, str] = Field(
        default_factory=dict,
        max_length=16,
        description="Labels every AlertmanagerConfig carries, for the Alertmanager's "
        "alertmanagerConfigSelector.",
    )
    alertmanager: AlertmanagerSettings = Field(
        default_factory=AlertmanagerSettings,
        description="The plain Alertmanager configuration `mooring observe render` prints.",
    )
    grafana_instance_labels: dict[str, str] = Field(
        default_factory=lambda: {"dashboards": "grafana"},
        max_length=16,
        description="GrafanaDashboard's instanceSelector: which Grafana (grafana-operator) "
        "shows the tenants' dashboards.",
    )


__all__ = [
    "DEFAULT_THRESHOLDS",
    "Contacts",
    "ObserveSettings",
    "Selectors",
    "Slo",
    "TenantObserve",
    "Thresholds",
    "parse_selector",
]
