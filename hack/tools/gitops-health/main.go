// Command gitops-health tells what Argo CD and Flux conclude about Kubernetes objects,
// with their own code rather than a re-implementation:
//
//   - Argo CD: the argocd-cm ConfigMap is read by Argo CD's settings manager
//     (util/settings), and each object's health is computed by gitops-engine's
//     health.GetResourceHealth with Argo CD's Lua overrides (util/lua), the call the
//     application controller makes. Health scripts therefore run in Argo CD's sandbox.
//   - Flux: kstatus status.Compute from sigs.k8s.io/cli-utils, what kustomize-controller
//     and helm-controller use for `wait`.
//
// Usage:
//
//	gitops-health --argocd-cm FILE [OBJECT_FILE ...]
//
// Objects are YAML or JSON documents (several per file, `---` separated, or a List such as
// `kubectl get -o json` prints), read from the files or, without any, from stdin. For each
// object one line of JSON is written to stdout:
//
//	{"kind":..,"namespace":..,"name":..,"generation":..,
//	 "argocd":{"status":..,"message":..,"error":..},"kstatus":{"status":..,"message":..,"error":..}}
//
// It needs no cluster: the ConfigMap is served to Argo CD's settings manager by a fake
// clientset in memory.
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

	"github.com/argoproj/argo-cd/gitops-engine/v3/pkg/health"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"github.com/argoproj/argo-cd/v3/util/settings"
	log "github.com/sirupsen/logrus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
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
	Kind       string  `json:"kind"`
	Namespace  string  `json:"namespace,omitempty"`
	Name       string  `json:"name"`
	Generation int64   `json:"generation"`
	ArgoCD     verdict `json:"argocd"`
	Kstatus    verdict `json:"kstatus"`
}

func main() {
	argocdCM := flag.String("argocd-cm", "", "YAML file of the argocd-cm ConfigMap (or a patch of it) holding the health customizations")
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
		if err := encoder.Encode(assess(obj, overrides)); err != nil {
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

func assess(obj *unstructured.Unstructured, overrides lua.ResourceHealthOverrides) report {
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
	return r
}
