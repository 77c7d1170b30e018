// kstatus-compute reads Kubernetes objects as JSON on stdin (one object, a JSON array, or a
// List) and prints, for each, what the kstatus library — the one Flux's health checks and kpt
// use — computes: one JSON line {"kind","namespace","name","status","message"}. The
// integration tests hold every terminal phase of every kind against the library itself, not
// against a re-implementation of its rules.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type line struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
	Status    string `json:"status"`
	Message   string `json:"message"`
}

func main() {
	raw, err := io.ReadAll(os.Stdin)
	if err != nil {
		fail(err)
	}
	var docs []json.RawMessage
	if err := json.Unmarshal(raw, &docs); err != nil {
		var list struct {
			Items []json.RawMessage `json:"items"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			fail(fmt.Errorf("stdin is neither an object nor an array of objects: %w", err))
		}
		docs = list.Items
		if docs == nil {
			docs = []json.RawMessage{raw}
		}
	}
	enc := json.NewEncoder(os.Stdout)
	for _, doc := range docs {
		// apimachinery's decoder keeps integers int64, as kstatus' generation checks expect.
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(doc); err != nil {
			fail(err)
		}
		res, err := status.Compute(u)
		if err != nil {
			fail(fmt.Errorf("%s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err))
		}
		if err := enc.Encode(line{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(), Status: res.Status.String(), Message: res.Message}); err != nil {
			fail(err)
		}
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "kstatus-compute:", err)
	os.Exit(1)
}
