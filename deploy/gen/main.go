// Command gen refreshes deploy's copies of generated files (deploy.Copies) and keeps only
// the Prometheus Operator CRDs the tests use. Run by go generate ./deploy, from deploy/.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/mcplane/mcp/deploy"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "deploy/gen:", err)
		os.Exit(1)
	}
}

func run() error {
	for _, c := range deploy.Copies {
		src, err := os.ReadFile(c.From)
		if err != nil {
			return fmt.Errorf("read %s: %w", c.From, err)
		}
		if err := os.MkdirAll(filepath.Dir(c.To), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(c.To, append([]byte(deploy.CopyHeader(c.From)), src...), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", c.To, err)
		}
	}
	// controller-gen writes a CRD for every type of the package; the tests need two.
	crds, err := filepath.Glob("testdata/crds/monitoring.coreos.com_*.yaml")
	if err != nil {
		return err
	}
	for _, f := range crds {
		if !slices.Contains(deploy.PrometheusOperatorCRDs, filepath.Base(f)) {
			if err := os.Remove(f); err != nil {
				return err
			}
		}
	}
	return nil
}
