package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/mcplane/mcp/controlplane/httpapi"
	"github.com/mcplane/mcp/tuner/policy"
)

func newPolicyCmd() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{Use: "policy", Short: "Manage tuning policies (TuningPolicy YAML) outside Kubernetes"}
	var file string
	apply := &cobra.Command{
		Use:   "apply -f FILE",
		Short: "Validate and store every TuningPolicy of a YAML file",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			// Validated here first, so a bad file fails before anything is stored.
			if _, err := policy.Parse(b); err != nil {
				return fmt.Errorf("%s: %w", file, err)
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			for _, doc := range strings.Split(string(b), "\n---") {
				var meta struct {
					Metadata struct{ Name string } `json:"metadata"`
				}
				if err := yaml.Unmarshal([]byte(doc), &meta); err != nil || meta.Metadata.Name == "" {
					continue
				}
				j, err := yaml.YAMLToJSON([]byte(doc))
				if err != nil {
					return err
				}
				var v httpapi.PolicyView
				if err := c.Send(cmd.Context(), http.MethodPut, "/api/v1/policies/"+url.PathEscape(meta.Metadata.Name), json.RawMessage(j), &v); err != nil {
					return fmt.Errorf("policy %s: %w", meta.Metadata.Name, err)
				}
				fmt.Fprintf(cmd.OutOrStdout(), "policy %s applied (mode %s)\n", v.Name, v.Mode)
			}
			return nil
		},
	}
	apply.Flags().StringVarP(&file, "file", "f", "", "TuningPolicy YAML file")
	_ = apply.MarkFlagRequired("file")
	list := &cobra.Command{
		Use:   "list",
		Short: "List policies and what the tuner is doing with each workload",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var out struct{ Policies []json.RawMessage }
			if err := c.Get(cmd.Context(), "/api/v1/policies", nil, &out); err != nil {
				return err
			}
			if cf.json() {
				return printJSON(cmd.OutOrStdout(), out)
			}
			t := newTable(cmd.OutOrStdout())
			fmt.Fprintln(t, "POLICY\tSOURCE\tMODE\tSERVICE\tPHASE\tCURRENT\tRECOMMENDED\tREASON")
			for _, raw := range out.Policies {
				var p struct {
					Name, Source, Mode string
					Workloads          []struct {
						Service, Phase, Reason string
						Current, Recommended   map[string]any
					}
				}
				_ = json.Unmarshal(raw, &p)
				if len(p.Workloads) == 0 {
					fmt.Fprintf(t, "%s\t%s\t%s\t-\t-\t-\t-\tno matching services yet\n", p.Name, p.Source, p.Mode)
				}
				for _, w := range p.Workloads {
					fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.Name, p.Source, p.Mode, w.Service, w.Phase,
						knobMap(w.Current), knobMap(w.Recommended), w.Reason)
				}
			}
			return t.Flush()
		},
	}
	get := &cobra.Command{
		Use:   "get NAME",
		Short: "Show a policy with its spec and workload status (JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var v json.RawMessage
			if err := c.Get(cmd.Context(), "/api/v1/policies/"+url.PathEscape(args[0]), nil, &v); err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), v)
		},
	}
	del := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a policy put through the API (knobs already changed stay as they are)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			if err := c.Send(cmd.Context(), http.MethodDelete, "/api/v1/policies/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "policy %s deleted\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(apply, list, get, del)
	cf.register(cmd)
	return cmd
}

func knobMap(m map[string]any) string {
	var parts []string
	for _, k := range []string{"gogc", "memory_limit_bytes", "memory_limit_ratio", "gomaxprocs", "hpa_target_utilization"} {
		if v, ok := m[k]; ok {
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}
