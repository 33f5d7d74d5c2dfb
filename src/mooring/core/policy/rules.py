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

from dataclasses import dataclass
from typing import Literal

from mooring.core.policy.cel import quote
from mooring.core.policy.targets import PODS, SERVICES, Target

Severity = Literal["critical", "high", "medium", "low", "info"]
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


def container_says(text: str) -> str:
    """A message about the container: "container app <text>"."""
    return f"'container ' + {C} + ' ' + {text}"


def pod_flag(field: str, message: str) -> str:
    """A pod-level boolean that must not be true."""
    return (
        f"(variables.spec.?{field}.orValue(false) == true ? "
        f"[variables.at + '.{field}: ' + {quote(message)}] : [])"
    )


def let(value: str, name: str, body: str) -> str:
    """Bind `value` to `name` in `body` (CEL has no let in the API server; a one-item map)."""
    return f"[{value}].map({name}, {body})[0]"


def full_image(image: str) -> str:
    """The image with its registry: `nginx` -> `docker.io/library/nginx` (as Docker reads it).

    The first path component is a registry host when it has a '.' or a ':' (a port), or is
    `localhost`; otherwise the image is on docker.io, and a single-name image is under
    library/. index.docker.io is docker.io. (String functions, not regular expressions:
    they are several times cheaper to evaluate.)
    """
    first = f"{image}.substring(0, {image}.indexOf('/'))"
    is_host = let(first, "h", "h.contains('.') || h.contains(':') || h == 'localhost'")
    has_host = f"({image}.indexOf('/') > 0 && {is_host})"
    hosted = f"({has_host} ? {image} : 'docker.io/' + {image})"
    no_index = let(
        hosted, "r", "r.startsWith('index.docker.io/') ? 'docker.io/' + r.substring(16) : r"
    )
    return let(
        no_index,
        "s",
        "s.startsWith('docker.io/') && !s.substring(10).contains('/') "
        "? 'docker.io/library/' + s.substring(10) : s",
    )


def labels_check(labels: str, where: str) -> str:
    """Required labels missing from `labels` (a CEL map), or with a value off the pattern."""
    return (
        f"params.spec.?requiredLabels.orValue([]).filter(r, !(r.key in {labels}) || "
        f"(has(r.allowedRegex) && !string({labels}[r.key]).matches(r.allowedRegex)))"
        f".map(r, {where} + ': ' + (r.key in {labels} ? 'label ' + r.key + '=' + "
        f"string({labels}[r.key]) + ' does not match ' + r.allowedRegex + '; change its value' "
        f": 'label ' + r.key + ' is required; add it'))"
    )


def service_type(kind: str, allowed: str, quota: str) -> str:
    return (
        f"(object.?spec.?type.orValue('ClusterIP') == '{kind}' && "
        f"params.spec.?{allowed}.orValue(false) != true ? "
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
    by_name = (
        "e.?names.orValue([]).exists(n, variables.name == n || "
        "(variables.name.startsWith(n + '-') && object.metadata.?ownerReferences.orValue([])"
        ".exists(o, o.?controller.orValue(false) == true)))"
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


# -- the rules --------------------------------------------------------------------------------

PRIVILEGED = Rule(
    id="privileged",
    title="Privileged containers",
    severity="critical",
    category="Pod Security",
    description="Containers must not run privileged: a privileged container has every "
    "capability of the node. Remove securityContext.privileged or set it to false.",
    target=PODS,
    violations=each_container(
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
    violations=each_container(
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
    violations=each_container(
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
    violations=each_container(
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
    violations=each_container(
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
    violations=each_container(
        bad=f"!{_IMAGE}.contains('@') && (!({_TAGGED}) || {_IMAGE}.endsWith(':latest'))",
        message=container_says(
            f"'image ' + {_IMAGE} + (({_TAGGED}) ? ' uses the tag latest' : ' has no tag (so it "
            "means latest)') + '; pin a version tag (app:1.4.2) or a digest (app@sha256:...)'"
        ),
        field="'.image'",
    ),
)

_REGISTRIES = "params.spec.?allowedRegistries.orValue([])"
_FROM_ALLOWED = (
    f"{_REGISTRIES}.exists(a, f.startsWith(a + '/') || (a.contains('/') && "
    "(f == a || f.startsWith(a + ':') || f.startsWith(a + '@'))))"
)
ALLOWED_REGISTRIES = Rule(
    id="allowed-registries",
    title="Allowed registries",
    severity="high",
    category="Supply chain",
    description="Images must come from the registries (or repository prefixes) the platform "
    "allows; `nginx` is docker.io/library/nginx. No list means any registry.",
    target=PODS,
    violations=each_container(
        bad=f"size({_REGISTRIES}) > 0 && !{let(full_image(_IMAGE), 'f', _FROM_ALLOWED)}",
        message=container_says(
            f"'image ' + {_IMAGE} + ' comes from ' + "
            f"{full_image(_IMAGE)}.find('^[^/]+') + ', not an allowed registry (allowed: ' + "
            f"{_REGISTRIES}.join(', ') + '); use an image from an allowed registry'"
        ),
        field="'.image'",
    ),
)

_MISSING_RESOURCES = (
    "['cpu', 'memory'].filter(r, !(r in c.?resources.?limits.orValue({})))"
    ".map(r, 'resources.limits.' + r) + "
    "['cpu', 'memory'].filter(r, !(r in c.?resources.?requests.orValue({})) && "
    "!(r in c.?resources.?limits.orValue({}))).map(r, 'resources.requests.' + r)"
)
RESOURCES = Rule(
    id="resources",
    title="CPU and memory requests and limits",
    severity="medium",
    category="Resources",
    description="Containers and init containers must set requests and limits for cpu and "
    "memory (a request left out defaults to its limit, as Kubernetes does).",
    target=PODS,
    violations=each_container(
        bad=f"size({_MISSING_RESOURCES}) > 0",
        message=container_says(
            f"'does not set ' + ({_MISSING_RESOURCES}).join(', ') + "
            "'; set requests and limits for cpu and memory'"
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
)
OPERATIONS: tuple[Rule, ...] = (
    RESOURCES,  # cpu and memory requests and limits
    REQUIRED_LABELS,  # labels the platform requires on workloads and templates
    NODE_PORT_SERVICES,  # only where the tenant's quota grants node ports
    LOAD_BALANCER_SERVICES,  # only where the tenant's quota grants load balancers
)
ALL: tuple[Rule, ...] = POD_SECURITY + SUPPLY_CHAIN + OPERATIONS

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
