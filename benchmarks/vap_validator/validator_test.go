// Package vapvalidator times the API server's own ValidatingAdmissionPolicy validator
// (k8s.io/apiserver, the version the local control plane is built from) on one Pod create,
// for policies given as JSON files: what a policy layout costs, without HTTP, etcd or the
// rest of the API server. benchmarks/guardrails_validator.py writes the files and runs it.
package vapvalidator

import (
	"context"
	"encoding/json"
	"os"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/policy/validating"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"
)

type input struct {
	Policy admissionregistrationv1.ValidatingAdmissionPolicy `json:"policy"`
	Params map[string]any                                    `json:"params"`
	Pod    corev1.Pod                                        `json:"pod"`
}

func load(t testing.TB, file string) input {
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var in input
	if err := json.Unmarshal(raw, &in); err != nil {
		t.Fatal(err)
	}
	return in
}

// compile does what the plugin's compilePolicy does (plugin.go), without match conditions
// (Mooring's policies have none).
func compile(policy *admissionregistrationv1.ValidatingAdmissionPolicy) validating.Validator {
	optionalVars := cel.OptionalVariableDeclarations{HasParams: true, HasAuthorizer: true}
	expressionOptionalVars := cel.OptionalVariableDeclarations{HasParams: true, HasAuthorizer: false}
	env := environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion())
	fc, err := cel.NewCompositedCompiler(env)
	if err != nil {
		panic(err)
	}
	vars := []cel.NamedExpressionAccessor{}
	for i := range policy.Spec.Variables {
		v := policy.Spec.Variables[i]
		vars = append(vars, &validating.Variable{Name: v.Name, Expression: v.Expression})
	}
	fc.CompileAndStoreVariables(vars, optionalVars, environment.StoredExpressions)
	vals := []cel.ExpressionAccessor{}
	msgs := []cel.ExpressionAccessor{}
	for _, v := range policy.Spec.Validations {
		vals = append(vals, &validating.ValidationCondition{Expression: v.Expression, Message: v.Message, Reason: v.Reason})
		if v.MessageExpression != "" {
			msgs = append(msgs, &validating.MessageExpressionCondition{MessageExpression: v.MessageExpression})
		} else {
			msgs = append(msgs, nil)
		}
	}
	auds := []cel.ExpressionAccessor{}
	for _, a := range policy.Spec.AuditAnnotations {
		auds = append(auds, &validating.AuditAnnotationCondition{Key: a.Key, ValueExpression: a.ValueExpression})
	}
	validations := fc.CompileCondition(vals, optionalVars, environment.StoredExpressions)
	messages := fc.CompileCondition(msgs, expressionOptionalVars, environment.StoredExpressions)
	for _, err := range append(validations.CompilationErrors(), messages.CompilationErrors()...) {
		panic(err)
	}
	v := validating.NewValidator(
		validations,
		nil,
		fc.CompileCondition(auds, optionalVars, environment.StoredExpressions),
		messages,
		policy.Spec.FailurePolicy, nil)
	return v
}

// defaulted adds the fields the API server's defaulting and its mutating admission plugins
// (ServiceAccount, DefaultTolerationSeconds) add to a pod before validating admission, and
// the managed fields of a create: the object the validator converts is this size.
func defaulted(p *corev1.Pod) {
	tsec := int64(300)
	grace := int64(30)
	prio := int32(0)
	pol := corev1.PreemptLowerPriority
	links := true
	p.Spec.RestartPolicy = corev1.RestartPolicyAlways
	p.Spec.TerminationGracePeriodSeconds = &grace
	p.Spec.DNSPolicy = corev1.DNSClusterFirst
	p.Spec.ServiceAccountName = "default"
	p.Spec.DeprecatedServiceAccount = "default"
	p.Spec.SchedulerName = "default-scheduler"
	p.Spec.Priority = &prio
	p.Spec.PreemptionPolicy = &pol
	p.Spec.EnableServiceLinks = &links
	p.Spec.Tolerations = []corev1.Toleration{
		{Key: "node.kubernetes.io/not-ready", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: &tsec},
		{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: "NoExecute", TolerationSeconds: &tsec},
	}
	exp := int64(3607)
	mode := int32(420)
	p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{Name: "kube-api-access-abcde", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
		DefaultMode: &mode,
		Sources: []corev1.VolumeProjection{
			{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &exp}},
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"}, Items: []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"}}}}},
		}}}})
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		c.TerminationMessagePath = "/dev/termination-log"
		c.TerminationMessagePolicy = "File"
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: "kube-api-access-abcde", ReadOnly: true, MountPath: "/var/run/secrets/kubernetes.io/serviceaccount"})
	}
	p.UID = "0b5b0b4e-2f0e-4b8e-9a7d-1c2d3e4f5a6b"
	p.CreationTimestamp = metav1.Now()
	p.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "python", Operation: "Update", APIVersion: "v1", Time: &p.CreationTimestamp, FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{".":{},"f:app.kubernetes.io/name":{},"f:team":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"app\"}":{".":{},"f:image":{},"f:imagePullPolicy":{},"f:name":{},"f:resources":{".":{},"f:limits":{".":{},"f:cpu":{},"f:memory":{}},"f:requests":{".":{},"f:cpu":{},"f:memory":{}}},"f:securityContext":{".":{},"f:allowPrivilegeEscalation":{},"f:capabilities":{".":{},"f:drop":{}}}}}}}`)}}}
	p.Status.Phase = corev1.PodPending
	p.Status.QOSClass = corev1.PodQOSBurstable
}

func setup(t testing.TB, file string) (validating.Validator, *admission.VersionedAttributes, runtime.Object, *corev1.Namespace) {
	in := load(t, file)
	v := compile(&in.Policy)
	pod := in.Pod
	defaulted(&pod)
	gvk := schema.GroupVersionKind{Version: "v1", Kind: "Pod"}
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	attr := admission.NewAttributesRecord(&pod, nil, gvk, pod.Namespace, pod.Name, gvr, "", admission.Create, &metav1.CreateOptions{}, false, &user.DefaultInfo{Name: "bench", Groups: []string{"system:authenticated"}})
	va := &admission.VersionedAttributes{Attributes: attr, VersionedKind: gvk, VersionedObject: admission.NewLazyObject(&pod)}
	params := &unstructured.Unstructured{Object: in.Params}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: pod.Namespace, Labels: map[string]string{"mooring.dev/tenant": "bench", "kubernetes.io/metadata.name": pod.Namespace}}}
	return v, va, params, ns
}

func run(b *testing.B, file string) {
	v, va, params, ns := setup(b, file)
	gvr := schema.GroupVersionResource{Version: "v1", Resource: "pods"}
	r := v.Validate(context.Background(), gvr, va, params, ns, celconfig.RuntimeCELCostBudget, nil)
	for _, d := range r.Decisions {
		if d.Action != validating.ActionAdmit {
			b.Fatalf("not admitted: %+v", d)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// A request's own attributes: the object's CEL value is kept per request.
		fresh := &admission.VersionedAttributes{Attributes: va.Attributes, VersionedKind: va.VersionedKind, VersionedObject: admission.NewLazyObject(va.VersionedObject.Object())}
		v.Validate(context.Background(), gvr, fresh, params, ns, celconfig.RuntimeCELCostBudget, nil)
	}
}

// BenchmarkPolicy: one Validate of the policy in $POLICY on a compliant Pod create.
func BenchmarkPolicy(b *testing.B) { run(b, os.Getenv("POLICY")) }

// BenchmarkToUnstructuredPod: one conversion of the Pod, which a request makes once (each
// group of expressions made one up to k8s.io/apiserver v0.36).
func BenchmarkToUnstructuredPod(b *testing.B) {
	_, va, _, _ := setup(b, os.Getenv("POLICY"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.DefaultUnstructuredConverter.ToUnstructured(va.VersionedObject.Object())
	}
}

// BenchmarkCompile: compiling the policy in $POLICY as the admission plugin does when it
// loads it (the API server's registry compiles the expressions once more on create).
func BenchmarkCompile(b *testing.B) {
	in := load(b, os.Getenv("POLICY"))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		compile(&in.Policy)
	}
}
