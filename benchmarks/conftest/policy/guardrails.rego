# Mooring's guardrails written in Rego for conftest, for the benchmark: the same rules,
# the same parameters (data.params, from the PlatformConfig), one deny message per
# violation, as `mooring check` reports them.
package main

import rego.v1

workload_kinds := {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController", "Job"}

pod_spec := input.spec if input.kind == "Pod"

pod_spec := input.spec.jobTemplate.spec.template.spec if input.kind == "CronJob"

pod_spec := input.spec.template.spec if input.kind in workload_kinds

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
	not cap in data.params.allowedCapabilities
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
	some allowed in data.params.allowedRegistries
	startswith(full_image(image), concat("", [allowed, "/"]))
}

allowed_image(image) if {
	some allowed in data.params.allowedRegistries
	contains(allowed, "/")
	startswith(full_image(image), concat("", [allowed, ":"]))
}

deny contains msg if {
	count(data.params.allowedRegistries) > 0
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

label_sets contains ["metadata.labels", object.get(input, ["metadata", "labels"], {})] if pod_spec

label_sets contains ["template", object.get(input, ["spec", "template", "metadata", "labels"], {})] if {
	input.kind in workload_kinds
}

label_sets contains ["template", object.get(input, ["spec", "jobTemplate", "spec", "template", "metadata", "labels"], {})] if {
	input.kind == "CronJob"
}

label_sets contains ["jobTemplate", object.get(input, ["spec", "jobTemplate", "metadata", "labels"], {})] if {
	input.kind == "CronJob"
}

deny contains msg if {
	some [where, labels] in label_sets
	some key in data.params.requiredLabels
	not labels[key]
	msg := sprintf("required-labels: %s %s", [where, key])
}

deny contains msg if {
	input.kind == "Service"
	input.spec.type in {"NodePort", "LoadBalancer"}
	msg := sprintf("service type %s", [input.spec.type])
}
