package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	apiv1 "github.com/mcplane/mcp/api/v1"
	"github.com/mcplane/mcp/controlplane/apiclient"
	"github.com/mcplane/mcp/controlplane/httpapi"

	"github.com/mcplane/mcp/runtime/knob"
)

// clientFlags are shared by every verb that talks to a server.
type clientFlags struct {
	server string
	token  string
	output string
}

func (f *clientFlags) register(cmd *cobra.Command) {
	server := os.Getenv("MCP_SERVER")
	if server == "" {
		server = "http://127.0.0.1:8080"
	}
	cmd.PersistentFlags().StringVar(&f.server, "server", server, "MCP server URL (env MCP_SERVER)")
	cmd.PersistentFlags().StringVar(&f.token, "token", os.Getenv("MCP_TOKEN"), "bearer token for writes (env MCP_TOKEN)")
	cmd.PersistentFlags().StringVarP(&f.output, "output", "o", "table", "table for people, json for scripts")
}

func (f *clientFlags) client() (*apiclient.Client, error) {
	if f.output != "table" && f.output != "json" {
		return nil, fmt.Errorf("--output %q: want table or json", f.output)
	}
	return apiclient.New(f.server, f.token)
}

func (f *clientFlags) json() bool { return f.output == "json" }

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func addClientCommands(root *cobra.Command) {
	var cf clientFlags
	status := &cobra.Command{
		Use:   "status",
		Short: "Show the server's health and its services",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			svcs, err := c.Services(ctx)
			if err != nil {
				return err
			}
			if cf.json() {
				return printJSON(cmd.OutOrStdout(), svcs)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "server %s: up\n\n", cf.server)
			t := newTable(cmd.OutOrStdout())
			fmt.Fprintln(t, "SERVICE\tINSTANCES\tHEALTHY\tSUSPECT\tGONE\tKNOBS IN FORCE\tDECISION")
			for _, s := range svcs.Services {
				desired := "-"
				if s.Desired != nil {
					desired = s.Desired.String()
				}
				fmt.Fprintf(t, "%s\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Instances, s.Health[apiv1.HealthHealthy],
					s.Health[apiv1.HealthSuspect], s.Health[apiv1.HealthGone], desired, orDash(s.DecisionID))
			}
			return t.Flush()
		},
	}
	instances := &cobra.Command{
		Use:   "instances",
		Short: "List instances with their health, knobs and limits",
		Args:  cobra.NoArgs,
	}
	var service string
	instances.Flags().StringVar(&service, "service", "", "only this service")
	instances.RunE = func(cmd *cobra.Command, _ []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		list, err := c.Instances(cmd.Context(), service)
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(cmd.OutOrStdout(), list)
		}
		t := newTable(cmd.OutOrStdout())
		fmt.Fprintln(t, "INSTANCE\tSERVICE\tHEALTH\tGOGC\tGOMEMLIMIT\tGOMAXPROCS\tMEM LIMIT\tCPU LIMIT\tLIVE HEAP\tLAST HEARTBEAT")
		for _, i := range list.Instances {
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Service, i.Health,
				knobCell(knob.FormatGOGC(i.Knobs.GOGC), i.Sources.GOGC),
				knobCell(knob.FormatBytes(i.Knobs.MemoryLimit), i.Sources.MemoryLimit),
				knobCell(strconv.Itoa(i.Knobs.GOMAXPROCS), i.Sources.GOMAXPROCS),
				limitBytes(i.Limits.MemoryBytes), limitCores(i.Limits.CPUCores),
				knob.FormatBytes(i.Runtime.LiveHeapBytes), ago(i.LastHeartbeat))
		}
		return t.Flush()
	}
	decisions := &cobra.Command{
		Use:   "decisions [ID]",
		Short: "List decisions, newest first, or show one with its acknowledgements and audit trail",
		Args:  cobra.MaximumNArgs(1),
	}
	var dService, dInstance string
	var limit int
	decisions.Flags().StringVar(&dService, "service", "", "only this service")
	decisions.Flags().StringVar(&dInstance, "instance", "", "only this instance")
	decisions.Flags().IntVar(&limit, "limit", 20, "at most this many")
	decisions.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := cf.client()
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if len(args) == 1 {
			d, err := c.Decision(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if cf.json() {
				return printJSON(out, d)
			}
			printDecisionDetail(out, d)
			return nil
		}
		list, err := c.Decisions(cmd.Context(), dService, dInstance, limit)
		if err != nil {
			return err
		}
		if cf.json() {
			return printJSON(out, list)
		}
		t := newTable(out)
		fmt.Fprintln(t, "DECISION\tTIME\tTARGET\tMODE\tSOURCE\tKNOBS\tOUTCOME\tACKS\tREASON")
		for _, d := range list.Decisions {
			target := d.Service
			if d.Instance != "" {
				target += "/" + d.Instance
			}
			fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", d.ID, d.CreatedAt.Local().Format("15:04:05"), target,
				d.Mode, d.Source, d.What(), d.Outcome, d.Acks.Applied, d.Acks.Targeted, d.Reason)
		}
		return t.Flush()
	}
	knobs := &cobra.Command{Use: "knobs", Short: "Get or set a service's runtime knobs"}
	knobs.AddCommand(newKnobsSetCmd(&cf), newKnobsGetCmd(&cf))
	for _, c := range []*cobra.Command{status, instances, decisions, knobs} {
		cf.register(c)
		root.AddCommand(c)
	}
}

func newKnobsSetCmd(cf *clientFlags) *cobra.Command {
	var req apiv1.DecisionRequest
	var gogc, memlimit string
	var maxprocs, hpaTarget int
	var mode string
	cmd := &cobra.Command{
		Use:   "set --service S [--instance I] [--gogc N|off] [--memlimit SIZE|RATIO] [--maxprocs N] [--hpa-target PERCENT]",
		Short: "Change knobs live on every instance of a service (or one instance)",
		Long: `Change knobs live. The change is stored as a decision, then pushed to every connected
instance; instances that connect later get it when they register.

  --gogc       25..2000, or off (only under a memory limit)
  --memlimit   a size (536870912, 512MiB, 512Mi, 1Gi) or a ratio of each instance's container
               limit (0.8, 80%)
  --maxprocs   1..NumCPU, or 0 for Go's container-aware default
  --hpa-target the HPA's target CPU utilization in percent, 1..100 (in a cluster)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cmd.Flags().Changed("gogc") {
				v, err := knob.ParseGOGC(gogc)
				if err != nil {
					return fmt.Errorf("--gogc %q: %w", gogc, err)
				}
				req.Knobs.GOGC = &v
			}
			if cmd.Flags().Changed("memlimit") {
				b, r, err := knob.ParseMemoryLimit(memlimit)
				if err != nil {
					return fmt.Errorf("--memlimit %q: %w", memlimit, err)
				}
				req.Knobs.MemoryLimit, req.Knobs.MemoryLimitRatio = b, r
			}
			if cmd.Flags().Changed("maxprocs") {
				req.Knobs.GOMAXPROCS = &maxprocs
			}
			if cmd.Flags().Changed("hpa-target") {
				req.HPATargetUtilization = &hpaTarget
			}
			req.Mode = apiv1.Mode(mode)
			if err := req.Validate(); err != nil {
				return fmt.Errorf("%w (see mcp knobs set --help)", err)
			}
			c, err := cf.client()
			if err != nil {
				return err
			}
			d, err := c.Decide(cmd.Context(), req)
			if err != nil {
				return err
			}
			if cf.json() {
				return printJSON(cmd.OutOrStdout(), d)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "decision %s: %s for %s, %s; pushed to %d instances (mcp decisions %s shows the acknowledgements)\n",
				d.ID, d.What(), req.Service+suffix("/", req.Instance), d.Mode, d.Acks.Targeted, d.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Service, "service", "", "service to change (required)")
	f.StringVar(&req.Instance, "instance", "", "only this instance")
	f.StringVar(&gogc, "gogc", "", "GOGC: 25..2000 or off")
	f.StringVar(&memlimit, "memlimit", "", "GOMEMLIMIT: a size (512Mi, 512MiB) or a ratio of the container limit (0.8, 80%)")
	f.IntVar(&maxprocs, "maxprocs", 0, "GOMAXPROCS: 1..NumCPU, 0 for Go's default")
	f.IntVar(&hpaTarget, "hpa-target", 0, "the HPA's target CPU utilization, percent")
	f.StringVar(&req.Reason, "reason", "", "why (kept in the audit trail)")
	f.StringVar(&mode, "mode", "apply", "apply, recommend or observe")
	_ = cmd.MarkFlagRequired("service")
	return cmd
}

func newKnobsGetCmd(cf *clientFlags) *cobra.Command {
	var service, instance string
	cmd := &cobra.Command{
		Use:   "get --service S [--instance I]",
		Short: "Show the knob set in force and each instance's knobs with their sources",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := cf.client()
			if err != nil {
				return err
			}
			var view httpapi.KnobsView
			if err := c.Knobs(cmd.Context(), service, instance, &view); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if cf.json() {
				return printJSON(out, view)
			}
			desired := "none (agents keep their own)"
			if view.Desired != nil {
				desired = view.Desired.String() + " (decision " + view.DecisionID + ")"
			}
			fmt.Fprintf(out, "service %s: knobs in force: %s\n\n", view.Service, desired)
			t := newTable(out)
			fmt.Fprintln(t, "INSTANCE\tHEALTH\tGOGC\tGOMEMLIMIT\tGOMAXPROCS\tDECISION")
			for _, i := range view.Instances {
				fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, i.Health,
					knobCell(knob.FormatGOGC(i.Knobs.GOGC), i.Sources.GOGC),
					knobCell(knob.FormatBytes(i.Knobs.MemoryLimit), i.Sources.MemoryLimit),
					knobCell(strconv.Itoa(i.Knobs.GOMAXPROCS), i.Sources.GOMAXPROCS), orDash(i.DecisionID))
			}
			return t.Flush()
		},
	}
	cmd.Flags().StringVar(&service, "service", "", "service (required)")
	cmd.Flags().StringVar(&instance, "instance", "", "only this instance")
	_ = cmd.MarkFlagRequired("service")
	return cmd
}

func printDecisionDetail(w io.Writer, d apiv1.DecisionDetail) {
	fmt.Fprintf(w, "decision %s\n  target:   %s%s\n  mode:     %s (by %s%s)\n  knobs:    %s\n  reason:   %s\n  outcome:  %s (%d of %d applied, %d rejected)\n  created:  %s\n",
		d.ID, d.Service, suffix("/", d.Instance), d.Mode, d.Source, suffix(", policy ", d.Policy), d.What(), d.Reason,
		d.Outcome, d.Acks.Applied, d.Acks.Targeted, d.Acks.Rejected, d.CreatedAt.Local().Format(time.RFC3339))
	if d.Before != nil {
		fmt.Fprintf(w, "  before:   GOGC=%s GOMEMLIMIT=%s GOMAXPROCS=%d\n", knob.FormatGOGC(d.Before.GOGC), knob.FormatBytes(d.Before.MemoryLimit), d.Before.GOMAXPROCS)
	}
	for _, kv := range []struct {
		name string
		m    map[string]float64
	}{{"evidence", d.Evidence}, {"predicted", d.Prediction}, {"observed", d.Observed}} {
		if len(kv.m) > 0 {
			fmt.Fprintf(w, "  %-9s %s\n", kv.name+":", formatFloatMap(kv.m))
		}
	}
	if len(d.AckList) > 0 {
		fmt.Fprintln(w, "\nacknowledgements:")
		t := newTable(w)
		fmt.Fprintln(t, "  INSTANCE\tAPPLIED\tLATENCY\tREASON")
		for _, a := range d.AckList {
			fmt.Fprintf(t, "  %s\t%v\t%.1fms\t%s\n", a.Instance, a.Applied, a.LatencySeconds*1000, orDash(a.Reason))
		}
		t.Flush()
	}
	if len(d.Audit) > 0 {
		fmt.Fprintln(w, "\naudit:")
		for _, e := range d.Audit {
			fmt.Fprintf(w, "  %s  %-8s %s\n", e.Time.Local().Format("15:04:05.000"), e.Kind, e.Message)
		}
	}
}

func formatFloatMap(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s=%.4g", k, m[k])
	}
	return strings.Join(parts, " ")
}

// knobCell shows a value with a short note of where it came from.
func knobCell(v string, source knob.Source) string {
	if source == "" {
		return v
	}
	return v + " (" + string(source) + ")"
}

func limitBytes(b int64) string {
	if b <= 0 {
		return "none"
	}
	return knob.FormatBytes(b)
}

func limitCores(c float64) string {
	if c <= 0 {
		return "none"
	}
	return strconv.FormatFloat(c, 'g', 4, 64)
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String() + " ago"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func suffix(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}
