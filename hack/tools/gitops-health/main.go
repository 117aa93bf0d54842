// Command gitops-health tells what Argo CD and Flux conclude about Kubernetes objects,
// with their own code rather than a re-implementation:
//
//   - Argo CD: the argocd-cm ConfigMap is read by Argo CD's settings manager
//     (util/settings), and each object's health is computed by gitops-engine's
//     health.GetResourceHealth with Argo CD's Lua overrides (util/lua), the call the
//     application controller makes. Health scripts therefore run in Argo CD's sandbox.
//   - kstatus: status.Compute from sigs.k8s.io/cli-utils, and from Flux's fork of it
//     (github.com/fluxcd/cli-utils), which is what Flux's wait uses for kinds without
//     healthCheckExprs.
//   - Flux: what kustomize-controller's `wait` concludes for the Kustomization given with
//     --flux-kustomization: its healthCheckExprs for the object's kind, evaluated by
//     github.com/fluxcd/pkg/runtime/cel (RFC 0009: generation first, then inProgress,
//     failed, current), or, for a kind without any, Flux's own fork of kstatus
//     (github.com/fluxcd/cli-utils).
//
// Usage:
//
//	gitops-health --argocd-cm FILE [--flux-kustomization FILE] [OBJECT_FILE ...]
//
// Objects are YAML or JSON documents (several per file, `---` separated, or a List such as
// `kubectl get -o json` prints), read from the files or, without any, from stdin. For each
// object one line of JSON is written to stdout:
//
//	{"kind":..,"namespace":..,"name":..,"generation":..,
//	 "argocd":{"status":..,"message":..,"error":..},"kstatus":{...},"fluxKstatus":{...},"flux":{...}}
//
// "flux" is there only with --flux-kustomization. It needs no cluster: the ConfigMap is
// served to Argo CD's settings manager by a fake clientset in memory.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
	fluxstatus "github.com/fluxcd/cli-utils/pkg/kstatus/status"
	"github.com/fluxcd/pkg/apis/kustomize"
	fluxcel "github.com/fluxcd/pkg/runtime/cel"
	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

type verdict struct {
	Status  string `json:"status,omitempty"`
	Message string `json:"message,omitempty"`
	Error   string `json:"error,omitempty"`
}

type report struct {
	Kind        string   `json:"kind"`
	Namespace   string   `json:"namespace,omitempty"`
	Name        string   `json:"name"`
	Generation  int64    `json:"generation"`
	ArgoCD      verdict  `json:"argocd"`
	Kstatus     verdict  `json:"kstatus"`
	FluxKstatus verdict  `json:"fluxKstatus"`
	Flux        *verdict `json:"flux,omitempty"`
}

func main() {
	argocdCM := flag.String("argocd-cm", "", "YAML file of the argocd-cm ConfigMap (or a patch of it) holding the health customizations")
	fluxKustomization := flag.String("flux-kustomization", "", "YAML file holding a Flux Kustomization (other documents are skipped) whose wait to compute")
	flag.Parse()
	if *argocdCM == "" {
		fail(errors.New("--argocd-cm is required"))
	}
	// The settings manager logs each read at info level; only its warnings matter here.
	log.SetLevel(log.WarnLevel)

	overrides, err := resourceOverrides(*argocdCM)
	if err != nil {
		fail(err)
	}

	var flux *fluxWait
	if *fluxKustomization != "" {
		if flux, err = readFluxWait(*fluxKustomization); err != nil {
			fail(err)
		}
	}

	var objects []*unstructured.Unstructured
	if flag.NArg() == 0 {
		if objects, err = readObjects(os.Stdin); err != nil {
			fail(fmt.Errorf("stdin: %w", err))
		}
	}
	for _, path := range flag.Args() {
		f, err := os.Open(path)
		if err != nil {
			fail(err)
		}
		more, err := readObjects(f)
		f.Close()
		if err != nil {
			fail(fmt.Errorf("%s: %w", path, err))
		}
		objects = append(objects, more...)
	}

	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	encoder := json.NewEncoder(out)
	encoder.SetEscapeHTML(false)
	for _, obj := range objects {
		if err := encoder.Encode(assess(obj, overrides, flux)); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gitops-health:", err)
	os.Exit(2)
}

// resourceOverrides reads the ConfigMap file and lets Argo CD's settings manager parse it,
// as the application controller does with the live argocd-cm.
func resourceOverrides(path string) (lua.ResourceHealthOverrides, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	cm := &corev1.ConfigMap{}
	if err := yaml.UnmarshalStrict(data, cm); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if cm.Name == "" {
		cm.Name = "argocd-cm"
	}
	if cm.Namespace == "" {
		cm.Namespace = "argocd"
	}
	// Argo CD only reads ConfigMaps with this label; its installation sets it on argocd-cm,
	// and a patch merged into that ConfigMap keeps it.
	if cm.Labels == nil {
		cm.Labels = map[string]string{}
	}
	cm.Labels["app.kubernetes.io/part-of"] = "argocd"

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mgr := settings.NewSettingsManager(ctx, fake.NewClientset(cm), cm.Namespace)
	overrides, err := mgr.GetResourceOverrides()
	if err != nil {
		return nil, fmt.Errorf("argo cd settings: %w", err)
	}
	return lua.ResourceHealthOverrides(overrides), nil
}

// readObjects decodes every YAML or JSON document of r into objects, with numbers as the
// Kubernetes clients decode them (int64 where integral), and the items of a List expanded.
func readObjects(r io.Reader) ([]*unstructured.Unstructured, error) {
	decoder := utilyaml.NewYAMLOrJSONDecoder(r, 4096)
	var objects []*unstructured.Unstructured
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err != nil {
			if errors.Is(err, io.EOF) {
				return objects, nil
			}
			return nil, err
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		decoded, err := runtime.Decode(unstructured.UnstructuredJSONScheme, raw)
		if err != nil {
			return nil, err
		}
		switch v := decoded.(type) {
		case *unstructured.UnstructuredList:
			for i := range v.Items {
				objects = append(objects, &v.Items[i])
			}
		case *unstructured.Unstructured:
			objects = append(objects, v)
		default:
			return nil, fmt.Errorf("unexpected %T", decoded)
		}
	}
}

// fluxWait is the health-check part of a Flux Kustomization: its healthCheckExprs, by the
// GroupKind (or the group alone, when kind is empty) they apply to.
type fluxWait struct {
	evaluators map[schema.GroupKind]*fluxcel.StatusEvaluator
}

func readFluxWait(path string) (*fluxWait, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	decoder := utilyaml.NewYAMLOrJSONDecoder(f, 4096)
	for {
		var doc struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Spec       struct {
				HealthCheckExprs []kustomize.CustomHealthCheck `json:"healthCheckExprs"`
			} `json:"spec"`
		}
		if err := decoder.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%s: no Kustomization", path)
			}
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if doc.Kind != "Kustomization" || !strings.HasPrefix(doc.APIVersion, "kustomize.toolkit.fluxcd.io/") {
			continue
		}
		w := &fluxWait{evaluators: map[schema.GroupKind]*fluxcel.StatusEvaluator{}}
		// The same keys as kustomize-controller's CEL status reader (fluxcd/pkg/runtime/cel).
		for i, hc := range doc.Spec.HealthCheckExprs {
			gk := schema.FromAPIVersionAndKind(hc.APIVersion, hc.Kind).GroupKind()
			if hc.Kind == "" {
				gk = schema.GroupKind{Group: gk.Group}
			}
			e, err := fluxcel.NewStatusEvaluator(&hc.HealthCheckExpressions)
			if err != nil {
				return nil, fmt.Errorf("%s: healthCheckExprs[%d]: %w", path, i, err)
			}
			w.evaluators[gk] = e
		}
		return w, nil
	}
}

// assess is what kustomize-controller concludes about one object it applied.
func (w *fluxWait) assess(obj *unstructured.Unstructured) verdict {
	gk := obj.GroupVersionKind().GroupKind()
	e, ok := w.evaluators[gk]
	if !ok {
		e, ok = w.evaluators[schema.GroupKind{Group: gk.Group}]
	}
	var res *fluxstatus.Result
	var err error
	if ok {
		res, err = e.Evaluate(context.Background(), obj.DeepCopy())
	} else {
		res, err = fluxstatus.Compute(obj.DeepCopy())
	}
	if err != nil {
		// kustomize-controller keeps waiting on an error, until its timeout.
		return verdict{Error: err.Error()}
	}
	return verdict{Status: res.Status.String(), Message: res.Message}
}

func assess(obj *unstructured.Unstructured, overrides lua.ResourceHealthOverrides, flux *fluxWait) report {
	r := report{
		Kind:       obj.GetKind(),
		Namespace:  obj.GetNamespace(),
		Name:       obj.GetName(),
		Generation: obj.GetGeneration(),
	}

	// What the application controller does for a live resource (controller/health.go).
	hs, err := health.GetResourceHealth(obj, overrides)
	switch {
	case err != nil:
		r.ArgoCD.Error = err.Error()
		if hs != nil {
			r.ArgoCD.Status, r.ArgoCD.Message = string(hs.Status), hs.Message
		}
	case hs == nil:
		// No script and no built-in check: Argo CD does not count the object's health.
		r.ArgoCD.Status = "None"
	default:
		r.ArgoCD.Status, r.ArgoCD.Message = string(hs.Status), hs.Message
	}

	// status.Compute may change the object it is given; give it a copy.
	res, err := status.Compute(obj.DeepCopy())
	if err != nil {
		r.Kstatus.Error = err.Error()
	}
	if res != nil {
		r.Kstatus.Status, r.Kstatus.Message = res.Status.String(), res.Message
	}

	if fres, err := fluxstatus.Compute(obj.DeepCopy()); err != nil {
		r.FluxKstatus.Error = err.Error()
	} else {
		r.FluxKstatus.Status, r.FluxKstatus.Message = fres.Status.String(), fres.Message
	}

	if flux != nil {
		v := flux.assess(obj)
		r.Flux = &v
	}
	return r
}
