"""Pure: the guardrail rules, each written once in CEL, and the chains that group them.

A rule's `violations` expression returns a list of strings `"<field path>: <message>"`,
empty when the object complies. The same text is evaluated offline (engine.py, for
`mooring check` and the audit) and by the API server (admission.py generates a
ValidatingAdmissionPolicy from it), so there is one definition of each rule.

Field paths name list items by a key, `containers[name=app]` or `volumes[name=data]`, and
`mooring check` resolves them to the file and line. Expressions read the pod spec through
`variables.spec` (targets.py), the namespace's GuardrailContext through `params`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mooring.core.policy.cel import quote
from mooring.core.policy.targets import INGRESSES, PODS, SERVICES, Target

Severity = Literal["critical", "high", "medium", "low", "info"]
# Controllers that make workloads from a workload of the same name (apiVersion/kind).
OWNER_KINDS = (
    "apps/v1/Deployment",
    "apps/v1/ReplicaSet",
    "apps/v1/StatefulSet",
    "apps/v1/DaemonSet",
    "batch/v1/CronJob",
    "batch/v1/Job",
    "v1/ReplicationController",
)
CONTAINER_LISTS = ("containers", "initContainers", "ephemeralContainers")
# Ephemeral containers may not declare resources (the API server refuses them).
RESOURCE_LISTS = ("containers", "initContainers")


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    category: str
    description: str  # what the rule wants and why, for docs and reports
    target: Target
    violations: str  # CEL -> list of "<field path>: <message>"
    # CEL -> bool: false (without an error) only when `violations` is empty. Admission
    # tests every rule's trigger first, and evaluates the rules only when one fires
    # (quick_check below; the offline pack too, engine.py). "" means `size(violations) > 0`.
    trigger: str = ""
    # A container rule: its `bad` predicate over `c` and the container lists it reads. The
    # quick check tests every container rule in one pass over each list.
    containers: tuple[str, tuple[str, ...]] | None = None


# -- small CEL builders -----------------------------------------------------------------------

C = "c.?name.orValue('')"  # the container's name inside each_container's expressions
SC = "c.?securityContext"


def each_container(
    bad: str, message: str, field: str, lists: tuple[str, ...] = CONTAINER_LISTS
) -> str:
    """Containers of every list for which `bad` holds, as violations at `<list>[name=..]field`.

    `bad` and `message` are CEL over `c` (the container); `field` is a CEL string.
    """
    return " + ".join(
        f"variables.spec.?{name}.orValue([]).filter(c, {bad}).map(c, "
        f"variables.at + '.{name}[name=' + {C} + ']' + {field} + ': ' + {message})"
        for name in lists
    )


def container_rule(
    bad: str, message: str, field: str, lists: tuple[str, ...] = CONTAINER_LISTS
) -> dict[str, Any]:
    """A rule's `violations` and `containers` for a check of each container (each_container)."""
    return {"violations": each_container(bad, message, field, lists), "containers": (bad, lists)}


def container_says(text: str) -> str:
    """A message about the container: "container app <text>"."""
    return f"'container ' + {C} + ' ' + {text}"


def pod_flag(field: str, message: str) -> str:
    """A pod-level boolean that must not be true."""
    return (
        f"(variables.spec.?{field}.orValue(false) == true ? "
        f"[variables.at + '.{field}: ' + {quote(message)}] : [])"
    )


def pod_flag_set(field: str) -> str:
    """The trigger of pod_flag: the flag is true."""
    return f"variables.spec.?{field}.orValue(false) == true"


def let(value: str, name: str, body: str) -> str:
    """Bind `value` to `name` in `body` (CEL has no let in the API server; a one-item map)."""
    return f"[{value}].map({name}, {body})[0]"


def registry_host(image: str) -> str:
    """CEL: the image's first path component is a registry host (it has a '.' or a ':', a
    port, or is `localhost`), as Docker reads it."""
    first = f"{image}.substring(0, {image}.indexOf('/'))"
    return (
        f"({image}.indexOf('/') > 0 && "
        f"({first}.contains('.') || {first}.contains(':') || {first} == 'localhost'))"
    )


def full_image(image: str) -> str:
    """The image with its registry: `nginx` -> `docker.io/library/nginx` (as Docker reads it).

    Without a registry host (registry_host), the image is on docker.io; index.docker.io is
    docker.io; a single-name image on docker.io is under library/. String functions and
    conditions only, no list comprehension (`let`) and no regular expression: several
    times cheaper to evaluate, and shallow enough for every CEL parser.
    """

    def on_docker_hub(path: str) -> str:  # the path after docker.io/
        return f"({path}.contains('/') ? 'docker.io/' + {path} : 'docker.io/library/' + {path})"

    return (
        f"(!{registry_host(image)} ? {on_docker_hub(image)} : "
        f"{image}.startsWith('index.docker.io/') ? {on_docker_hub(f'{image}.substring(16)')} : "
        f"{image}.startsWith('docker.io/') ? {on_docker_hub(f'{image}.substring(10)')} : "
        f"{image})"
    )


def _label_off(labels: str) -> str:
    """CEL over `r` (a required label): `labels` (a CEL map) lacks it or has a value off its
    pattern."""
    return (
        f"!(r.key in {labels}) || "
        f"(has(r.allowedRegex) && !string({labels}[r.key]).matches(r.allowedRegex))"
    )


def labels_missing(labels: str) -> str:
    """The trigger of labels_check: some required label is missing or off its pattern."""
    return f"params.spec.?requiredLabels.orValue([]).exists(r, {_label_off(labels)})"


def labels_check(labels: str, where: str) -> str:
    """Required labels missing from `labels` (a CEL map), or with a value off the pattern."""
    return (
        f"params.spec.?requiredLabels.orValue([]).filter(r, {_label_off(labels)})"
        f".map(r, {where} + ': ' + (r.key in {labels} ? 'label ' + r.key + '=' + "
        f"string({labels}[r.key]) + ' does not match ' + r.allowedRegex + '; change its value' "
        f": 'label ' + r.key + ' is required; add it'))"
    )


def service_type_used(kind: str, allowed: str) -> str:
    """The trigger of service_type: a Service of that type where the quota grants none."""
    return (
        f"object.?spec.?type.orValue('ClusterIP') == '{kind}' && "
        f"params.spec.?{allowed}.orValue(false) != true"
    )


def service_type(kind: str, allowed: str, quota: str) -> str:
    return (
        f"({service_type_used(kind, allowed)} ? "
        f"['spec.type: type {kind} is not allowed here: the quota of tenant ' + "
        f"params.spec.?tenant.orValue('(none)') + ' grants no {quota}; use type ClusterIP "
        f"(behind an Ingress), or ask the platform team for a {quota} quota'] : [])"
    )


def exceptions_expression(rule_id: str) -> str:
    """Names of the exceptions in force that lift `rule_id` for this object.

    An exception names workloads: by name (which also covers objects named `<name>-...`
    with a controller owner, such as the ReplicaSets and Pods of Deployment <name>), or by
    labels, matched on the object's labels or on its pod template's labels.
    """
    own = "object.metadata.?labels.orValue({})"
    template = "variables.templateLabels"
    owner_kinds = ", ".join(quote(kind) for kind in OWNER_KINDS)
    # The controller owner is a workload kind, named <n> or <n>-..., and the object is named
    # after it (<owner>-...): a Deployment's ReplicaSets and Pods, a CronJob's Jobs and
    # Pods, a StatefulSet's Pods. A ConfigMap (or anything else) claimed as controller is not.
    by_owner = (
        "object.metadata.?ownerReferences.orValue([]).exists(o, "
        "o.?controller.orValue(false) == true && "
        f"(o.?apiVersion.orValue('') + '/' + o.?kind.orValue('')) in [{owner_kinds}] && "
        "(o.?name.orValue('') == n || o.?name.orValue('').startsWith(n + '-')) && "
        "variables.name.startsWith(o.?name.orValue('') + '-'))"
    )
    by_name = (
        "e.?names.orValue([]).exists(n, variables.name == n || "
        f"(variables.name.startsWith(n + '-') && {by_owner}))"
    )
    by_labels = (
        "(size(e.?matchLabels.orValue({})) > 0 && ("
        f"e.matchLabels.all(k, k in {own} && {own}[k] == e.matchLabels[k]) || "
        f"e.matchLabels.all(k, k in {template} && {template}[k] == e.matchLabels[k])))"
    )
    return (
        f"params.spec.?exceptions.orValue([]).filter(e, {quote(rule_id)} in e.rules && "
        f"({by_name} || {by_labels})).map(e, e.name)"
    )


def trigger(rule: Rule) -> str:
    """CEL: may the rule find something? (false only when its violations are empty)"""
    return rule.trigger or f"size({rule.violations}) > 0"


def quick_check(rules: Sequence[Rule]) -> str:
    """CEL: true when no rule of `rules` finds anything, so that every `violations` is empty.

    The container rules' `bad` predicates are tested together in one pass over each
    container list, the other rules' triggers beside them. A trigger that fires does not
    mean a violation: the rule may have another mode here, or an exception; the rules are
    then evaluated one by one (admission's `variables.denied`, the offline pack's list).
    """
    per_list: dict[str, list[str]] = {}
    others: list[str] = []
    for rule in rules:
        if rule.containers is not None:
            bad, lists = rule.containers
            for name in lists:
                per_list.setdefault(name, []).append(f"({bad})")
        else:
            others.append(f"({trigger(rule)})")
    passes = [
        f"variables.spec.?{name}.orValue([]).exists(c, {' || '.join(bads)})"
        for name, bads in per_list.items()
    ]
    found = [*others, *passes]
    return f"!({' || '.join(found)})" if found else "true"


# -- the rules --------------------------------------------------------------------------------

PRIVILEGED = Rule(
    id="privileged",
    title="Privileged containers",
    severity="critical",
    category="Pod Security",
    description="Containers must not run privileged: a privileged container has every "
    "capability of the node. Remove securityContext.privileged or set it to false.",
    target=PODS,
    **container_rule(
        bad=f"{SC}.?privileged.orValue(false) == true",
        message=container_says(
            "'runs privileged; remove securityContext.privileged or set it to false'"
        ),
        field="'.securityContext.privileged'",
    ),
)

PRIVILEGE_ESCALATION = Rule(
    id="privilege-escalation",
    title="Privilege escalation",
    severity="high",
    category="Pod Security",
    description="Containers must set securityContext.allowPrivilegeEscalation to false, so "
    "that a process cannot gain more privileges than its parent (setuid binaries). Windows "
    "pods (spec.os.name: windows), which may not set it, are exempt, as in Pod Security.",
    target=PODS,
    **container_rule(
        bad=f"variables.spec.?os.?name.orValue('') != 'windows' && "
        f"{SC}.?allowPrivilegeEscalation.orValue(true) != false",
        message=container_says(
            "'allows privilege escalation; set securityContext.allowPrivilegeEscalation to false'"
        ),
        field="'.securityContext.allowPrivilegeEscalation'",
    ),
)

_NON_ROOT = (
    f"{SC}.?runAsNonRoot.orValue(variables.spec.?securityContext.?runAsNonRoot.orValue(false))"
)
_USER = f"{SC}.?runAsUser.orValue(variables.spec.?securityContext.?runAsUser.orValue(-1))"
RUN_AS_NON_ROOT = Rule(
    id="run-as-non-root",
    title="Containers run as a non-root user",
    severity="high",
    category="Pod Security",
    description="Every container must run with runAsNonRoot: true, set on the container or "
    "on the pod (the container's setting overrides the pod's), and not as user 0.",
    target=PODS,
    **container_rule(
        bad=f"{_NON_ROOT} != true || {_USER} == 0",
        message=container_says(
            f"({_USER} == 0 ? 'runs as user 0 (root); set runAsUser to a non-zero user id' "
            ": 'may run as root; set securityContext.runAsNonRoot to true on the container "
            "or the pod')"
        ),
        field=f"({_USER} == 0 ? '.securityContext.runAsUser' : '.securityContext.runAsNonRoot')",
    ),
)

HOST_NAMESPACES = Rule(
    id="host-namespaces",
    title="Host namespaces",
    severity="critical",
    category="Pod Security",
    description="Pods must not share the node's network, process or IPC namespaces "
    "(hostNetwork, hostPID, hostIPC).",
    target=PODS,
    violations=" + ".join(
        pod_flag(field, f"the pod shares the node {what}; remove {field} or set it to false")
        for field, what in (
            ("hostNetwork", "network namespace"),
            ("hostPID", "process namespace"),
            ("hostIPC", "IPC namespace"),
        )
    ),
    trigger=" || ".join(pod_flag_set(f) for f in ("hostNetwork", "hostPID", "hostIPC")),
)

HOST_PATH = Rule(
    id="host-path",
    title="hostPath volumes",
    severity="critical",
    category="Pod Security",
    description="Pods must not mount folders of the node (hostPath volumes); use a "
    "PersistentVolumeClaim, emptyDir, configMap or secret volume.",
    target=PODS,
    violations=(
        "variables.spec.?volumes.orValue([]).filter(v, has(v.hostPath)).map(v, variables.at + "
        "'.volumes[name=' + v.?name.orValue('') + '].hostPath: volume ' + v.?name.orValue('') + "
        "' mounts ' + string(v.hostPath.?path.orValue('')) + ' from the node; use a "
        "persistentVolumeClaim, emptyDir, configMap or secret volume instead')"
    ),
    trigger="variables.spec.?volumes.orValue([]).exists(v, has(v.hostPath))",
)

# With hostNetwork, the API server makes every container port a host port.
_HOST_PORT = "(p.?hostPort.orValue(0) != 0 || variables.spec.?hostNetwork.orValue(false) == true)"
HOST_PORTS = Rule(
    id="host-ports",
    title="Host ports",
    severity="high",
    category="Pod Security",
    description="Containers must not bind ports of the node (hostPort, or any port with "
    "hostNetwork); expose them through a Service.",
    target=PODS,
    **container_rule(
        bad=f"c.?ports.orValue([]).exists(p, {_HOST_PORT})",
        message=container_says(
            f"'binds host port(s) ' + c.ports.filter(p, {_HOST_PORT}).map(p, "
            "string(p.?hostPort.orValue(p.?containerPort.orValue(0)))).join(', ') + "
            "'; remove hostPort (and hostNetwork) and expose the port with a Service'"
        ),
        field="'.ports'",
    ),
)

_ALLOWED_CAPS = "params.spec.?allowedCapabilities.orValue([])"
_ADDED = f"{SC}.?capabilities.?add.orValue([])"
CAPABILITIES = Rule(
    id="capabilities",
    title="Added capabilities",
    severity="high",
    category="Pod Security",
    description="Containers may add only the allowed Linux capabilities (by default "
    "NET_BIND_SERVICE) in securityContext.capabilities.add.",
    target=PODS,
    **container_rule(
        bad=f"{_ADDED}.exists(a, !(a in {_ALLOWED_CAPS}))",
        message=container_says(
            f"'adds capabilities ' + {_ADDED}.filter(a, !(a in {_ALLOWED_CAPS}))"
            ".map(a, string(a)).join(', ') + ' beyond the allowed set (' + "
            f"(size({_ALLOWED_CAPS}) == 0 ? 'none' : {_ALLOWED_CAPS}.join(', ')) + "
            "'); remove them from securityContext.capabilities.add'"
        ),
        field="'.securityContext.capabilities.add'",
    ),
)

_IMAGE = "string(c.?image.orValue(''))"
# Tagged: a ':' after the last '/' (a ':' before it is a registry port).
_TAGGED = f"{_IMAGE}.lastIndexOf(':') > {_IMAGE}.lastIndexOf('/')"
IMAGE_TAG = Rule(
    id="image-tag",
    title="Pinned image versions",
    severity="medium",
    category="Supply chain",
    description="Images must name a version: a tag other than latest, or a digest. An image "
    "without a tag means latest, which changes under the workload.",
    target=PODS,
    **container_rule(
        bad=f"!{_IMAGE}.contains('@') && (!({_TAGGED}) || {_IMAGE}.endsWith(':latest'))",
        message=container_says(
            f"'image ' + {_IMAGE} + (({_TAGGED}) ? ' uses the tag latest' : ' has no tag (so it "
            "means latest)') + '; pin a version tag (app:1.4.2) or a digest (app@sha256:...)'"
        ),
        field="'.image'",
    ),
)

_REGISTRIES = "params.spec.?allowedRegistries.orValue([])"


def from_allowed(image: str) -> str:
    """CEL: the full image name `image` is under an allowed registry or repository prefix."""
    return (
        f"{_REGISTRIES}.exists(a, {image}.startsWith(a + '/') || (a.contains('/') && "
        f"({image} == a || {image}.startsWith(a + ':') || {image}.startsWith(a + '@'))))"
    )


# The image is its own full name (full_image changes nothing): its first path component is a
# registry host, and not docker.io's. Then the registries are matched against it as written,
# without binding the full name (a list comprehension): the common case, and the cheap one.
_AS_WRITTEN = (
    f"({registry_host(_IMAGE)} && !{_IMAGE}.startsWith('docker.io/') && "
    f"!{_IMAGE}.startsWith('index.docker.io/'))"
)
ALLOWED_REGISTRIES = Rule(
    id="allowed-registries",
    title="Allowed registries",
    severity="high",
    category="Supply chain",
    description="Images must come from the registries (or repository prefixes) the platform "
    "allows; `nginx` is docker.io/library/nginx. No list means any registry.",
    target=PODS,
    **container_rule(
        bad=f"size({_REGISTRIES}) > 0 && !({_AS_WRITTEN} ? {from_allowed(_IMAGE)} : "
        f"{let(full_image(_IMAGE), 'f', from_allowed('f'))})",
        message=container_says(
            f"'image ' + {_IMAGE} + ' comes from ' + "
            f"{full_image(_IMAGE)}.find('^[^/]+') + ', not an allowed registry (allowed: ' + "
            f"{_REGISTRIES}.join(', ') + '); use an image from an allowed registry'"
        ),
        field="'.image'",
    ),
)

# A quantity whose digits are all zero ("0", "0m", "0.0Gi", "0e3"): Kubernetes treats a
# zero limit as no limit at all.
_ZERO = "^[+-]?(0+[.]?0*|[.]0+)([eE][+-]?[0-9]+|[numkMGTPE]|[KMGTPE]i)?$"
_LIMITS = "c.?resources.?limits.orValue({})"
_NO_LIMIT = f"(!(r in {_LIMITS}) || string({_LIMITS}[r]).matches('{_ZERO}'))"
_MISSING_RESOURCES = (
    f"['cpu', 'memory'].filter(r, {_NO_LIMIT})"
    ".map(r, 'resources.limits.' + r + (r in " + _LIMITS + " ? ' (zero means no limit)' : '')) + "
    "['cpu', 'memory'].filter(r, !(r in c.?resources.?requests.orValue({})) && "
    f"!(r in {_LIMITS})).map(r, 'resources.requests.' + r)"
)
# The same test without building the list: a missing request is counted only where the
# limit is missing too, so some resource lacks a (non-zero) limit exactly when the list is
# not empty.
_LACKS_RESOURCES = " || ".join(
    f"!('{r}' in {_LIMITS}) || string({_LIMITS}['{r}']).matches('{_ZERO}')"
    for r in ("cpu", "memory")
)
RESOURCES = Rule(
    id="resources",
    title="CPU and memory requests and limits",
    severity="medium",
    category="Resources",
    description="Containers and init containers must set requests and limits for cpu and "
    "memory (a request left out defaults to its limit, as Kubernetes does); a zero limit "
    "is no limit, so it does not count.",
    target=PODS,
    **container_rule(
        bad=_LACKS_RESOURCES,
        message=container_says(
            f"'does not set ' + ({_MISSING_RESOURCES}).join(', ') + "
            "'; set requests and limits for cpu and memory (limits above zero)'"
        ),
        field="'.resources'",
        lists=RESOURCE_LISTS,
    ),
)

REQUIRED_LABELS = Rule(
    id="required-labels",
    title="Required labels",
    severity="low",
    category="Metadata",
    description="Workloads, and the pod templates they create pods from, must carry the "
    "labels the platform requires (with values matching its patterns, if given).",
    target=PODS,
    violations=(
        labels_check("object.metadata.?labels.orValue({})", "'metadata.labels'")
        + " + (object.kind == 'Pod' ? [] : "
        + labels_check("variables.templateLabels", "variables.templateAt")
        + ") + (object.kind == 'CronJob' ? "
        + labels_check(
            "object.?spec.?jobTemplate.?metadata.?labels.orValue({})",
            "'spec.jobTemplate.metadata.labels'",
        )
        + " : [])"
    ),
    trigger=(
        labels_missing("object.metadata.?labels.orValue({})")
        + " || (object.kind != 'Pod' && "
        + labels_missing("variables.templateLabels")
        + ") || (object.kind == 'CronJob' && "
        + labels_missing("object.?spec.?jobTemplate.?metadata.?labels.orValue({})")
        + ")"
    ),
)

NODE_PORT_SERVICES = Rule(
    id="node-port-services",
    title="NodePort Services",
    severity="medium",
    category="Network",
    description="Services of type NodePort open a port on every node; they are allowed only "
    "where the tenant's quota grants node ports.",
    target=SERVICES,
    violations=service_type("NodePort", "nodePorts", "node ports"),
    trigger=service_type_used("NodePort", "nodePorts"),
)

LOAD_BALANCER_SERVICES = Rule(
    id="load-balancer-services",
    title="LoadBalancer Services",
    severity="medium",
    category="Network",
    description="Services of type LoadBalancer expose the workload outside the cluster "
    "(and cost money); they are allowed only where the tenant's quota grants load balancers.",
    target=SERVICES,
    violations=service_type("LoadBalancer", "loadBalancers", "load balancers"),
    trigger=service_type_used("LoadBalancer", "loadBalancers"),
)

_PULL_POLICY_IMAGE = "string(c.?image.orValue(''))"
# A reference Docker can parse (distribution/reference): the API server defaults the pull
# policy of one it cannot to IfNotPresent.
_REFERENCE = (
    r"^((([a-zA-Z0-9]|[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9])([.]([a-zA-Z0-9]|"
    r"[a-zA-Z0-9][-a-zA-Z0-9]*[a-zA-Z0-9]))*(:[0-9]+)?/)?"
    r"[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*(/[a-z0-9]+(([._]|__|-+)[a-z0-9]+)*)*)"
    r"(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?"
    r"(@[A-Za-z][A-Za-z0-9]*([-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,})?$"
)
_TAG_OF = "(r.lastIndexOf(':') > r.lastIndexOf('/') ? r.substring(r.lastIndexOf(':') + 1) : '')"
# What the API server writes when the container says nothing: Always for the tag latest
# (or no tag and no digest, which means latest), IfNotPresent otherwise.
_DEFAULT_PULL = let(
    _PULL_POLICY_IMAGE,
    "i",
    let(
        "i.contains('@') ? i.substring(0, i.indexOf('@')) : i",
        "r",
        f"(i.matches({quote(_REFERENCE)}) && ({_TAG_OF} == 'latest' || "
        f"({_TAG_OF} == '' && !i.contains('@')))) ? 'Always' : 'IfNotPresent'",
    ),
)
_PULL = f"(has(c.imagePullPolicy) ? string(c.imagePullPolicy) : {_DEFAULT_PULL})"
IMAGE_PULL_POLICY = Rule(
    id="image-pull-policy",
    title="Images pulled every time",
    severity="high",
    category="Supply chain",
    description="Containers must set imagePullPolicy: Always, so that the node asks the "
    "registry (with the pod's own credentials) every time: a private image another tenant "
    "pulled onto the node is otherwise started without any credentials. Left out, the "
    "policy is IfNotPresent for a pinned tag or digest (Always only for latest).",
    target=PODS,
    **container_rule(
        bad=f"{_PULL} != 'Always'",
        message=container_says(
            f"'pulls its image with imagePullPolicy ' + {_PULL} + "
            "(has(c.imagePullPolicy) ? '' : ' (the default for a pinned image)') + "
            "', so a copy cached on the node runs without the registry checking "
            "credentials; set imagePullPolicy: Always'"
        ),
        field="'.imagePullPolicy'",
    ),
)

_PRIORITY_CLASSES = "params.spec.?allowedPriorityClasses.orValue([])"
PRIORITY_CLASSES = Rule(
    id="priority-classes",
    title="Priority classes",
    severity="high",
    category="Resources",
    description="Pods may name only the PriorityClasses their tier allows (none by "
    "default); system-node-critical and system-cluster-critical, which preempt every other "
    "pod on a node, never.",
    target=PODS,
    violations=let(
        "string(variables.spec.?priorityClassName.orValue(''))",
        "p",
        f"(p != '' && (p.startsWith('system-') || !(p in {_PRIORITY_CLASSES}))) ? "
        "[variables.at + '.priorityClassName: priority class ' + p + ' is not allowed to "
        "tenant ' + params.spec.?tenant.orValue('(none)') + ' (allowed: ' + "
        f"(size({_PRIORITY_CLASSES}) == 0 ? 'none' : {_PRIORITY_CLASSES}.join(', ')) + "
        "(p.startsWith('system-') ? '; system-* classes preempt other tenants and are "
        "reserved to the cluster' : '') + '); remove priorityClassName or use an allowed "
        "class'] : []",
    ),
    trigger="variables.spec.?priorityClassName.orValue('') != ''",
)

EXTERNAL_IPS = Rule(
    id="external-ips",
    title="Service external IPs",
    severity="critical",
    category="Network",
    description="Services must not set externalIPs: every node then sends traffic for those "
    "addresses to the Service, so a tenant could capture traffic meant for another tenant "
    "or for any outside address (CVE-2020-8554).",
    target=SERVICES,
    violations=(
        "size(object.?spec.?externalIPs.orValue([])) > 0 ? ['spec.externalIPs: externalIPs "
        "' + object.spec.externalIPs.map(i, string(i)).join(', ') + ' would make every node "
        "send traffic for these addresses to this Service, capturing traffic meant for "
        "others (CVE-2020-8554); remove spec.externalIPs and expose the Service through an "
        "Ingress'] : []"
    ),
    trigger="size(object.?spec.?externalIPs.orValue([])) > 0",
)

_DOMAIN = "params.spec.?clusterDomain.orValue('cluster.local')"
# The last label of a public name is a top-level domain: letters, or an IDN (xn--...).
# Namespaces (tenant-env, kube-system), IP addresses and cluster suffixes are not.
_INTERNAL = (
    "!n.contains('.') || n == d || n.endsWith('.' + d) || "
    "!t.matches('^([a-z]{2,63}|xn--[a-z0-9-]{1,59})$') || "
    "t in ['svc', 'local', 'localhost', 'internal', 'cluster', 'localdomain'] || "
    "t in params.spec.?platformNamespaces.orValue([])"
)
EXTERNAL_NAMES = Rule(
    id="external-names",
    title="ExternalName Services inside the cluster",
    severity="high",
    category="Network",
    description="An ExternalName Service must name a public DNS name (db.example.com), not a "
    "name inside the cluster (a Service of another namespace such as db.shop-prod or "
    "x.y.svc.cluster.local, a platform namespace, an IP address): the ingress controller "
    "and other clients would follow it into another tenant's namespace.",
    target=SERVICES,
    violations=(
        "object.?spec.?type.orValue('') != 'ExternalName' ? [] : "
        + let(
            # The API server accepts only lower-case names here.
            "string(object.?spec.?externalName.orValue(''))",
            "x",
            let(
                "x.endsWith('.') ? x.substring(0, size(x) - 1) : x",
                "n",
                let(
                    "n.substring(n.lastIndexOf('.') + 1)",
                    "t",
                    let(
                        _DOMAIN,
                        "d",
                        f"({_INTERNAL}) ? ['spec.externalName: ' + x + ' is a name inside the "
                        "cluster (a Service of another namespace, the cluster domain ' + d + "
                        "', or an address); an ExternalName Service may only name a public "
                        "DNS name such as db.example.com; reach workloads in the cluster "
                        "through a Service with a selector'] : []",
                    ),
                ),
            ),
        )
    ),
    trigger="object.?spec.?type.orValue('') == 'ExternalName'",
)

_HOSTNAMES = "params.spec.?hostnames.orValue([])"
_HELD_LIST = f"(size({_HOSTNAMES}) == 0 ? 'none' : {_HOSTNAMES}.join(', '))"


def held(host: str) -> str:
    """Is `host` among the names the tenant holds (a wildcard holds every name below it)?"""
    return (
        f"{_HOSTNAMES}.exists(c, {host} == c || "
        f"(c.startsWith('*.') && {host}.endsWith(c.substring(1))))"
    )


_NOT_HELD = (
    "' is not held by tenant ' + params.spec.?tenant.orValue('(none)') + ' (it holds: ' + "
    f"{_HELD_LIST} + '); add it to the Tenant\\'s spec.hostnames (a name another tenant "
    "holds cannot be added)'"
)
_ALIAS = "nginx.ingress.kubernetes.io/server-alias"
INGRESS_HOSTS = Rule(
    id="ingress-hosts",
    title="Ingress hosts held by the tenant",
    severity="critical",
    category="Network",
    description="An Ingress may serve only host names its tenant holds (spec.hostnames of "
    "the Tenant; the first tenant to declare a name holds it), in its rules, TLS entries "
    "and server aliases. No catch-all: every rule names a host, every TLS entry lists its "
    "hosts, and there is no default backend, which would take requests for any host.",
    target=INGRESSES,
    violations=(
        "(object.?spec.?defaultBackend.hasValue() ? ['spec.defaultBackend: a default backend "
        "takes the requests for every host no rule matches, other tenants\\' included; "
        "remove it and route by host in spec.rules'] : []) + "
        "object.?spec.?rules.orValue([]).filter(r, string(r.?host.orValue('')) == '')"
        ".map(r, 'spec.rules: a rule without a host serves every host name, other "
        f"tenants\\' included; give it a host the tenant holds (' + {_HELD_LIST} + ')') + "
        "object.?spec.?rules.orValue([]).filter(r, string(r.?host.orValue('')) != '' && "
        f"!{held('string(r.host)')}).map(r, 'spec.rules[host=' + string(r.host) + '].host: "
        f"host ' + string(r.host) + {_NOT_HELD}) + "
        "object.?spec.?tls.orValue([]).filter(t, size(t.?hosts.orValue([])) == 0)"
        ".map(t, 'spec.tls: a TLS entry without hosts applies to every host name; list "
        "its hosts') + "
        f"object.?spec.?tls.orValue([]).filter(t, t.?hosts.orValue([]).exists(h, "
        f"!{held('string(h)')})).map(t, 'spec.tls: TLS host(s) ' + t.hosts.filter(h, "
        f"!{held('string(h)')}).map(h, string(h)).join(', ') + {_NOT_HELD}) + "
        + let(
            f"object.metadata.?annotations[?'{_ALIAS}'].orValue('').split(',')"
            ".map(a, a.trim()).filter(a, a != '')",
            "aliases",
            f"aliases.filter(a, !{held('a')}).map(a, 'metadata.annotations: server alias ' "
            f"+ a + {_NOT_HELD})",
        )
    ),
)

_INGRESS_CLASSES = "params.spec.?ingressClasses.orValue([])"
INGRESS_CLASSES = Rule(
    id="ingress-classes",
    title="Ingress classes",
    severity="medium",
    category="Network",
    description="An Ingress may use only the IngressClasses its tier allows (any when the "
    "tier lists none). Without a class it gets the cluster's default class.",
    target=INGRESSES,
    violations=let(
        "string(object.?spec.?ingressClassName.orValue(object.metadata.?annotations"
        "[?'kubernetes.io/ingress.class'].orValue('')))",
        "k",
        f"(k != '' && size({_INGRESS_CLASSES}) > 0 && !(k in {_INGRESS_CLASSES})) ? "
        "[(object.?spec.?ingressClassName.hasValue() ? 'spec.ingressClassName' : "
        "'metadata.annotations') + ': ingress class ' + k + ' is not allowed to tenant ' + "
        "params.spec.?tenant.orValue('(none)') + ' (allowed: ' + "
        f"{_INGRESS_CLASSES}.join(', ') + '); use one of those'] : []",
    ),
)

INGRESS_SNIPPETS = Rule(
    id="ingress-snippets",
    title="Ingress configuration snippets",
    severity="critical",
    category="Network",
    description="Ingresses must not carry configuration snippets (ingress-nginx's "
    "configuration-snippet, server-snippet, auth-snippet, ...; NGINX's *-snippets): they "
    "are copied into the configuration of the ingress controller that every tenant shares, "
    "and can read its credentials and other tenants' traffic (CVE-2021-25742).",
    target=INGRESSES,
    violations=(
        "object.metadata.?annotations.orValue({}).filter(k, "
        "string(k).lowerAscii().contains('snippet')).map(k, 'metadata.annotations: "
        "annotation ' + string(k) + ' injects configuration into the ingress controller "
        "every tenant shares (CVE-2021-25742); remove it, and ask the platform team for a "
        "setting that does what you need')"
    ),
)

# -- chains -----------------------------------------------------------------------------------

POD_SECURITY: tuple[Rule, ...] = (
    PRIVILEGED,  # full access to the node
    PRIVILEGE_ESCALATION,  # setuid binaries gaining privileges
    RUN_AS_NON_ROOT,  # root in the container, container setting over the pod's
    HOST_NAMESPACES,  # hostNetwork, hostPID, hostIPC
    HOST_PATH,  # node folders mounted into the pod
    HOST_PORTS,  # ports bound on the node
    CAPABILITIES,  # capabilities added beyond the allowed set
)
SUPPLY_CHAIN: tuple[Rule, ...] = (
    IMAGE_TAG,  # :latest or no tag (digests are fine)
    ALLOWED_REGISTRIES,  # images only from the platform's registries
    IMAGE_PULL_POLICY,  # imagePullPolicy Always: no private image reused from a node's cache
)
OPERATIONS: tuple[Rule, ...] = (
    RESOURCES,  # cpu and memory requests and limits (above zero)
    REQUIRED_LABELS,  # labels the platform requires on workloads and templates
    PRIORITY_CLASSES,  # only the tier's priority classes, never system-*
    NODE_PORT_SERVICES,  # only where the tenant's quota grants node ports
    LOAD_BALANCER_SERVICES,  # only where the tenant's quota grants load balancers
)
# What one tenant could do to the others through shared network machinery.
ISOLATION: tuple[Rule, ...] = (
    EXTERNAL_IPS,  # Services capturing any address on every node (CVE-2020-8554)
    EXTERNAL_NAMES,  # ExternalName Services pointing into the cluster
    INGRESS_HOSTS,  # only host names the tenant holds; no catch-all
    INGRESS_CLASSES,  # only the tier's ingress classes
    INGRESS_SNIPPETS,  # no configuration snippets for the shared controller (CVE-2021-25742)
)
ALL: tuple[Rule, ...] = POD_SECURITY + SUPPLY_CHAIN + OPERATIONS + ISOLATION

BY_ID: dict[str, Rule] = {rule.id: rule for rule in ALL}
RULE_IDS: tuple[str, ...] = tuple(BY_ID)


def select(ids: tuple[str, ...] | list[str] | None) -> tuple[Rule, ...]:
    """The rules with these ids, in pack order (all when None). Raises KeyError naming one."""
    if not ids:
        return ALL
    unknown = [i for i in ids if i not in BY_ID]
    if unknown:
        raise KeyError(unknown[0])
    wanted = set(ids)
    return tuple(rule for rule in ALL if rule.id in wanted)
