"""Pure: where a tenant's alerts go.

With the Prometheus Operator, an AlertmanagerConfig in each of the tenant's namespaces
(the operator adds a `namespace` matcher to each, so a tenant's config only ever sees its
own alerts; Mooring adds `tenant` too). Without it, `mooring observe render` prints a
complete Alertmanager configuration: one route per tenant under a root that drops what no
tenant claims. In both, critical alerts (SLO pages included) go to PagerDuty and to the
chat and e-mail contacts; everything else to chat and e-mail.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mooring.api.observe import AlertmanagerSettings, Contacts, SecretKeyRef
from mooring.api.tenant import Tenant

ALERTMANAGER_CONFIG = "mooring-routing"
MONITORING_ALPHA = "monitoring.coreos.com/v1alpha1"
GROUP_BY = ["alertname", "namespace"]
TIMING = {"group_wait": "30s", "group_interval": "5m", "repeat_interval": "4h"}
DROP = "mooring-unrouted"


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part.title() for part in rest)


def receiver_names(tenant: str) -> tuple[str, str]:
    return f"{tenant}-notify", f"{tenant}-page"


# -- Prometheus Operator ------------------------------------------------------------------------


def _ref(ref: SecretKeyRef) -> dict[str, str]:
    return {"name": ref.name, "key": ref.key}


def _operator_receivers(tenant: str, contacts: Contacts) -> list[dict[str, Any]]:
    notify, page = receiver_names(tenant)
    receivers: list[dict[str, Any]] = [{"name": notify}]
    if contacts.emails:
        receivers[0]["emailConfigs"] = [{"to": e, "sendResolved": True} for e in contacts.emails]
    if contacts.slack:
        receivers[0]["slackConfigs"] = [
            {"channel": s.channel, "apiURL": _ref(s.api_url), "sendResolved": True}
            for s in contacts.slack
        ]
    if contacts.webhooks:
        receivers[0]["webhookConfigs"] = [
            {"urlSecret": _ref(w.url), "sendResolved": True} for w in contacts.webhooks
        ]
    if contacts.pagerduty is not None:
        receivers.append(
            {
                "name": page,
                "pagerdutyConfigs": [
                    {"routingKey": _ref(contacts.pagerduty.routing_key), "sendResolved": True}
                ],
            }
        )
    return receivers


def _child_routes(tenant: str, contacts: Contacts, operator: bool) -> list[dict[str, Any]]:
    notify, page = receiver_names(tenant)
    if contacts.pagerduty is None:
        return []
    if operator:
        critical = {"name": "severity", "value": "critical", "matchType": "="}
        return [
            {"receiver": page, "matchers": [critical], "continue": True},
            {"receiver": notify},
        ]
    return [
        {"receiver": page, "matchers": ['severity="critical"'], "continue": True},
        {"receiver": notify},
    ]


def operator_spec(tenant: str, contacts: Contacts) -> dict[str, Any]:
    """Pure: an AlertmanagerConfig's spec routing the tenant's alerts to its contacts."""
    notify, _ = receiver_names(tenant)
    route: dict[str, Any] = {
        "receiver": notify,
        "groupBy": GROUP_BY,
        **{_camel(k): v for k, v in TIMING.items()},
        "matchers": [{"name": "tenant", "value": tenant, "matchType": "="}],
    }
    children = _child_routes(tenant, contacts, operator=True)
    if children:
        route["routes"] = children
    return {"route": route, "receivers": _operator_receivers(tenant, contacts)}


# -- a plain Alertmanager -----------------------------------------------------------------------


def _file(settings: AlertmanagerSettings, namespace: str, ref: SecretKeyRef) -> str:
    return f"{settings.secrets_dir.rstrip('/')}/{namespace}/{ref.name}/{ref.key}"


def _plain_receivers(tenant: Tenant, settings: AlertmanagerSettings) -> list[dict[str, Any]]:
    contacts = tenant.spec.observe.contacts
    # Secrets are read from the tenant's first namespace (mounted under secrets_dir).
    namespace = tenant.namespace(tenant.spec.environments[0])
    notify, page = receiver_names(tenant.name)
    receiver: dict[str, Any] = {"name": notify}
    if contacts.emails:
        receiver["email_configs"] = [{"to": e, "send_resolved": True} for e in contacts.emails]
    if contacts.slack:
        receiver["slack_configs"] = [
            {
                "channel": s.channel,
                "api_url_file": _file(settings, namespace, s.api_url),
                "send_resolved": True,
            }
            for s in contacts.slack
        ]
    if contacts.webhooks and settings.webhook_url_file:
        receiver["webhook_configs"] = [
            {"url_file": _file(settings, namespace, w.url), "send_resolved": True}
            for w in contacts.webhooks
        ]
    receivers = [receiver]
    if contacts.pagerduty is not None:
        receivers.append(
            {
                "name": page,
                "pagerduty_configs": [
                    {
                        "routing_key_file": _file(
                            settings, namespace, contacts.pagerduty.routing_key
                        ),
                        "send_resolved": True,
                    }
                ],
            }
        )
    return receivers


def left_out(tenants: Sequence[Tenant], settings: AlertmanagerSettings) -> list[str]:
    """What `alertmanager_config` cannot route, for a warning."""
    if settings.webhook_url_file:
        return []
    return [
        f"tenant {t.name}: {len(t.spec.observe.contacts.webhooks)} webhook(s) left out; "
        "this Alertmanager cannot read a webhook URL from a file (set "
        "observe.alertmanager.webhookUrlFile for Alertmanager 0.26 or newer)"
        for t in tenants
        if t.spec.observe.contacts.webhooks
    ]


def alertmanager_config(
    tenants: Sequence[Tenant], settings: AlertmanagerSettings
) -> dict[str, Any]:
    """Pure: a complete Alertmanager configuration routing each tenant's alerts (by their
    `tenant` label) to its contacts; alerts of no tenant go to a receiver that drops them
    (the platform adds its own routes above Mooring's)."""
    routes = []
    receivers: list[dict[str, Any]] = [{"name": DROP}]
    for tenant in sorted(tenants, key=lambda t: t.name):
        contacts = tenant.spec.observe.contacts
        if contacts.empty():
            continue
        notify, _ = receiver_names(tenant.name)
        route: dict[str, Any] = {"receiver": notify, "matchers": [f'tenant="{tenant.name}"']}
        children = _child_routes(tenant.name, contacts, operator=False)
        if children:
            route["routes"] = children
        routes.append(route)
        receivers += _plain_receivers(tenant, settings)
    config: dict[str, Any] = {
        "global": {
            "smtp_smarthost": settings.smtp_smarthost,
            "smtp_from": settings.smtp_from,
        },
        "route": {"receiver": DROP, "group_by": GROUP_BY, **TIMING, "routes": routes},
        "receivers": receivers,
    }
    return config
