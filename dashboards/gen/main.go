// Command gen writes MCP's Grafana dashboards as JSON into the current directory and as
// ConfigMaps for the Grafana sidecar; go generate ./dashboards runs it.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mcplane/mcp/dashboards/internal/boards"
)

func main() {
	dir := flag.String("dir", ".", "directory to write the dashboard JSON files to")
	configMaps := flag.String("configmaps", "", "file to write the dashboards to as Kubernetes ConfigMaps (none if empty)")
	flag.Parse()
	if err := run(*dir, *configMaps); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dir, configMaps string) error {
	files, err := boards.Generate()
	if err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	if configMaps == "" {
		return nil
	}
	cm, err := boards.ConfigMaps(files)
	if err != nil {
		return err
	}
	return os.WriteFile(configMaps, cm, 0o644)
}
