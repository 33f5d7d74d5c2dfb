# Mooring's guardrails written in Rego for conftest, for the benchmark: the same rules,
# the same parameters (data.params, from the PlatformConfig), one deny message per
# violation, as `mooring check` reports them.
package main

import rego.v1

# The object under review (conftest: the input; gator: input.review.object) and the
# parameters (conftest: data.params; gator: the constraint's input.parameters).
obj := input

params := data.params

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

pod_spec := obj.spec if obj.kind == "Pod"

pod_spec := obj.spec.jobTemplate.spec.template.spec if obj.kind == "CronJob"

pod_spec := obj.spec.template.spec if obj.kind in workload_kinds

container_lists := ["containers", "initContainers", "ephemeralContainers"]

containers contains [list, c] if {
	some list in container_lists
	some c in object.get(pod_spec, list, [])
}

security(c, field, default_value) := object.get(c, ["securityContext", field], default_value)

deny contains msg if {
	some [list, c] in containers
	security(c, "privileged", false) == true
	msg := sprintf("privileged: %s %s runs privileged", [list, c.name])
}

deny contains msg if {
	some [list, c] in containers
	security(c, "allowPrivilegeEscalation", true) != false
	msg := sprintf("privilege-escalation: %s %s", [list, c.name])
}

may_run_as_root(c) if {
	security(c, "runAsNonRoot", object.get(pod_spec, ["securityContext", "runAsNonRoot"], false)) != true
}

may_run_as_root(c) if {
	security(c, "runAsUser", object.get(pod_spec, ["securityContext", "runAsUser"], -1)) == 0
}

deny contains msg if {
	some [list, c] in containers
	may_run_as_root(c)
	msg := sprintf("run-as-non-root: %s %s", [list, c.name])
}

deny contains msg if {
	some field in ["hostNetwork", "hostPID", "hostIPC"]
	object.get(pod_spec, field, false) == true
	msg := sprintf("host-namespaces: %s", [field])
}

deny contains msg if {
	some v in object.get(pod_spec, "volumes", [])
	v.hostPath
	msg := sprintf("host-path: volume %s", [v.name])
}

host_port(p) if object.get(p, "hostPort", 0) != 0

host_port(_) if object.get(pod_spec, "hostNetwork", false) == true

deny contains msg if {
	some [list, c] in containers
	some p in object.get(c, "ports", [])
	host_port(p)
	msg := sprintf("host-ports: %s %s", [list, c.name])
}

deny contains msg if {
	some [list, c] in containers
	some cap in object.get(c, ["securityContext", "capabilities", "add"], [])
	not cap in params.allowedCapabilities
	msg := sprintf("capabilities: %s %s adds %s", [list, c.name, cap])
}

tagged(image) if {
	parts := split(image, "/")
	contains(parts[count(parts) - 1], ":")
}

unpinned(image) if not tagged(image)

unpinned(image) if endswith(image, ":latest")

deny contains msg if {
	some [list, c] in containers
	image := object.get(c, "image", "")
	not contains(image, "@")
	unpinned(image)
	msg := sprintf("image-tag: %s %s image %s", [list, c.name, image])
}

hostlike(first) if contains(first, ".")

hostlike(first) if contains(first, ":")

hostlike("localhost")

host(image) := h if {
	contains(image, "/")
	h := split(image, "/")[0]
	hostlike(h)
}

full_image(image) := image if host(image)

full_image(image) := concat("", ["docker.io/library/", image]) if {
	not host(image)
	not contains(image, "/")
}

full_image(image) := concat("", ["docker.io/", image]) if {
	not host(image)
	contains(image, "/")
}

allowed_image(image) if {
	some allowed in params.allowedRegistries
	startswith(full_image(image), concat("", [allowed, "/"]))
}

allowed_image(image) if {
	some allowed in params.allowedRegistries
	contains(allowed, "/")
	startswith(full_image(image), concat("", [allowed, ":"]))
}

deny contains msg if {
	count(params.allowedRegistries) > 0
	some [list, c] in containers
	not allowed_image(object.get(c, "image", ""))
	msg := sprintf("allowed-registries: %s %s", [list, c.name])
}

deny contains msg if {
	some [list, c] in containers
	list != "ephemeralContainers"
	some resource in ["cpu", "memory"]
	not c.resources.limits[resource]
	msg := sprintf("resources: %s %s limits.%s", [list, c.name, resource])
}

label_sets contains ["metadata.labels", object.get(obj, ["metadata", "labels"], {})] if pod_spec

label_sets contains ["template", object.get(obj, ["spec", "template", "metadata", "labels"], {})] if {
	obj.kind in workload_kinds
}

label_sets contains ["template", object.get(obj, ["spec", "jobTemplate", "spec", "template", "metadata", "labels"], {})] if {
	obj.kind == "CronJob"
}

label_sets contains ["jobTemplate", object.get(obj, ["spec", "jobTemplate", "metadata", "labels"], {})] if {
	obj.kind == "CronJob"
}

deny contains msg if {
	some [where, labels] in label_sets
	some key in params.requiredLabels
	not labels[key]
	msg := sprintf("required-labels: %s %s", [where, key])
}

service_rules := {"NodePort": "node-port-services", "LoadBalancer": "load-balancer-services"}

deny contains msg if {
	obj.kind == "Service"
	rule := service_rules[obj.spec.type]
	msg := sprintf("%s: type %s", [rule, obj.spec.type])
}
