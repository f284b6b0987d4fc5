// argocd-health runs a health check the way Argo CD v3 runs one: the script comes from an
// argocd-cm ConfigMap's `resource.customizations.health.<group>_<Kind>` key (with
// `resource.customizations.useOpenLibs.<group>_<Kind>`, default false), and every object of an
// Argo CD health_test.yaml goes through Argo CD's own util/lua VM (gopher-lua with the libraries
// Argo CD opens). It prints one {"inputPath","status","message","error"} JSON line per case.
//
// Usage: argocd-health CONFIGMAP.yaml HEALTH_TEST.yaml
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	appv1 "github.com/argoproj/argo-cd/v3/pkg/apis/application/v1alpha1"
	"github.com/argoproj/argo-cd/v3/util/lua"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

const (
	healthPrefix   = "resource.customizations.health."
	openLibsPrefix = "resource.customizations.useOpenLibs."
)

type configMap struct {
	Data map[string]string `json:"data"`
}

type healthTests struct {
	Tests []struct {
		InputPath string `json:"inputPath"`
	} `json:"tests"`
}

type result struct {
	InputPath string `json:"inputPath"`
	Status    string `json:"status,omitempty"`
	Message   string `json:"message,omitempty"`
	Error     string `json:"error,omitempty"`
}

// overrideKey is how Argo CD's settings turn `natgw.io_NatGateway` into `natgw.io/NatGateway`
// (util/settings: the first '_' separates group and kind; a core kind has no group).
func overrideKey(suffix string) string {
	if group, kind, ok := strings.Cut(suffix, "_"); ok {
		return group + "/" + kind
	}
	return suffix
}

func main() {
	if len(os.Args) != 3 {
		fail("usage: argocd-health CONFIGMAP.yaml HEALTH_TEST.yaml")
	}
	var cm configMap
	read(os.Args[1], &cm)
	overrides := map[string]appv1.ResourceOverride{}
	for k, v := range cm.Data {
		if suffix, ok := strings.CutPrefix(k, healthPrefix); ok {
			o := overrides[overrideKey(suffix)]
			o.HealthLua = v
			overrides[overrideKey(suffix)] = o
		}
	}
	for k, v := range cm.Data {
		if suffix, ok := strings.CutPrefix(k, openLibsPrefix); ok {
			o := overrides[overrideKey(suffix)]
			o.UseOpenLibs = v == "true"
			overrides[overrideKey(suffix)] = o
		}
	}
	var tests healthTests
	read(os.Args[2], &tests)
	dir := filepath.Dir(os.Args[2])
	out := json.NewEncoder(os.Stdout)
	for _, t := range tests.Tests {
		var obj map[string]interface{}
		read(filepath.Join(dir, t.InputPath), &obj)
		r := result{InputPath: t.InputPath}
		health, err := lua.ResourceHealthOverrides(overrides).GetResourceHealth(&unstructured.Unstructured{Object: obj})
		switch {
		case err != nil:
			r.Error = err.Error()
		case health == nil:
			r.Error = "no health check matches the object's group and kind"
		default:
			r.Status, r.Message = string(health.Status), health.Message
		}
		if err := out.Encode(r); err != nil {
			fail("writing: %v", err)
		}
	}
}

// read parses a YAML (or JSON) file into v, as Argo CD's tests load their objects.
func read(path string, v interface{}) {
	data, err := os.ReadFile(path)
	if err != nil {
		fail("%v", err)
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		fail("%s: %v", path, err)
	}
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "argocd-health: "+format+"\n", args...)
	os.Exit(2)
}
