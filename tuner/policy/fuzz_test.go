package policy

import (
	"os"
	"testing"
)

// FuzzParse feeds arbitrary YAML to the policy parser: it must never panic, and whatever
// it accepts must be a valid policy.
func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("testdata/policies.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("apiVersion: mcp.mcplane.dev/v1alpha1\nkind: TuningPolicy\nmetadata: {name: p}\nspec: {target: {services: [a]}, knobs: {gogc: {min: 50, max: 300}}}"))
	f.Add([]byte("---\n---\n"))
	f.Add([]byte("{"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := Parse(b)
		if err != nil {
			return
		}
		for _, p := range ps {
			if p.Name == "" || (p.GOGC == nil && p.MemLimit == nil && !p.GOMAXPROCS && p.HPATarget == nil && !p.UseCPURequest) {
				t.Fatalf("accepted an invalid policy: %+v", p)
			}
			if p.GOGC != nil && (p.GOGC.Min < 25 || p.GOGC.Max > 2000 || p.GOGC.Min > p.GOGC.Max) {
				t.Fatalf("accepted GOGC bounds %+v", *p.GOGC)
			}
		}
	})
}
