// kstatus prints what sigs.k8s.io/cli-utils/pkg/kstatus/status.Compute says about the object
// (JSON or YAML) on stdin, as {"status": "...", "message": "..."}.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
	"sigs.k8s.io/yaml"
)

func main() {
	in, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail("reading stdin: %v", err)
	}
	// YAML (a superset of JSON) to JSON, then numbers to int64 as in the API machinery:
	// status.Compute reads metadata.generation and status.observedGeneration as int64.
	doc, err := yaml.YAMLToJSON(in)
	if err != nil {
		fail("parsing the object: %v", err)
	}
	var obj map[string]interface{}
	if err := utiljson.Unmarshal(doc, &obj); err != nil {
		fail("parsing the object: %v", err)
	}
	if obj == nil {
		fail("no object on stdin")
	}
	res, err := status.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		fail("status.Compute: %v", err)
	}
	out, _ := json.Marshal(map[string]string{"status": res.Status.String(), "message": res.Message})
	fmt.Println(string(out))
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "kstatus: "+format+"\n", args...)
	os.Exit(1)
}
