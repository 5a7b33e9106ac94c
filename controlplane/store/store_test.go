package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	apiv1 "github.com/mcplane/mcp/api/v1"

	"github.com/mcplane/mcp/runtime/knob"
)

func ptr[T any](v T) *T { return &v }

// backends runs a test against every Store implementation.
func backends(t *testing.T, fn func(t *testing.T, s Store)) {
	t.Run("memory", func(t *testing.T) {
		s := NewMemory()
		defer s.Close()
		fn(t, s)
	})
	t.Run("bolt", func(t *testing.T) {
		s, err := OpenBolt(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		fn(t, s)
	})
}

func decision(id, service string) apiv1.Decision {
	return apiv1.Decision{ID: id, Service: service, Mode: apiv1.ModeApply, Source: "test",
		Knobs: knob.Change{GOGC: ptr(150)}, CreatedAt: time.Unix(1, 0).UTC(), Outcome: apiv1.OutcomePending}
}

func TestDecisions(t *testing.T) {
	backends(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		for i, svc := range []string{"a", "b", "a"} {
			d := decision(fmt.Sprintf("d-%03d", i), svc)
			des := Desired{Target: Target{Service: svc}, Knobs: d.Knobs, DecisionID: d.ID}
			if err := s.CreateDecision(ctx, d, des); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.CreateDecision(ctx, decision("d-000", "a")); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Errorf("duplicate id: %v", err)
		}
		all, err := s.ListDecisions(ctx, DecisionFilter{})
		if err != nil || len(all) != 3 || all[0].ID != "d-002" || all[2].ID != "d-000" {
			t.Fatalf("list = %v, %v; want 3 newest first", ids(all), err)
		}
		a, _ := s.ListDecisions(ctx, DecisionFilter{Service: "a", Limit: 1})
		if len(a) != 1 || a[0].ID != "d-002" {
			t.Errorf("filtered list = %v", ids(a))
		}
		got, err := s.UpdateDecision(ctx, "d-001", func(d *apiv1.Decision) error {
			d.Outcome = apiv1.OutcomeApplied
			return nil
		})
		if err != nil || got.Outcome != apiv1.OutcomeApplied {
			t.Fatalf("update = %v, %v", got.Outcome, err)
		}
		boom := errors.New("boom")
		if _, err := s.UpdateDecision(ctx, "d-001", func(d *apiv1.Decision) error {
			d.Outcome = apiv1.OutcomeRejected
			return boom
		}); !errors.Is(err, boom) {
			t.Errorf("failed update = %v", err)
		}
		if d, _ := s.GetDecision(ctx, "d-001"); d.Outcome != apiv1.OutcomeApplied {
			t.Errorf("a failed update changed the record: %v", d.Outcome)
		}
		if _, err := s.GetDecision(ctx, "nope"); !errors.Is(err, ErrNotFound) {
			t.Errorf("missing decision: %v", err)
		}
		// A decision that empties a target's knob set removes it.
		if err := s.CreateDecision(ctx, decision("d-003", "c"), Desired{Target: Target{Service: "b"}}); err != nil {
			t.Fatal(err)
		}
		desired, err := s.ListDesired(ctx)
		if err != nil || len(desired) != 1 {
			t.Fatalf("desired = %+v, %v", desired, err)
		}
		for _, d := range desired {
			if d.Target.Service == "a" && d.DecisionID != "d-002" {
				t.Errorf("desired for a = %s, want the latest decision", d.DecisionID)
			}
		}
	})
}

func ids(ds []apiv1.Decision) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}

func TestAcksAndAudit(t *testing.T) {
	backends(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		at := time.Unix(10, 0).UTC()
		if err := s.RecordAcks(ctx, []apiv1.Ack{
			{DecisionID: "d-1", Instance: "i-2", Applied: false, Reason: "GOGC set by operator", At: at},
			{DecisionID: "d-1", Instance: "i-1", Applied: true, At: at},
			{DecisionID: "d-10", Instance: "i-1", Applied: true, At: at},
		}); err != nil {
			t.Fatal(err)
		}
		acks, err := s.ListAcks(ctx, "d-1")
		if err != nil || len(acks) != 2 || acks[0].Instance != "i-1" || acks[1].Reason != "GOGC set by operator" {
			t.Fatalf("acks = %+v, %v", acks, err)
		}
		if err := s.AppendAudit(ctx,
			apiv1.AuditEvent{DecisionID: "d-1", Time: at, Kind: "created"},
			apiv1.AuditEvent{DecisionID: "d-1", Time: at, Kind: "pushed"}); err != nil {
			t.Fatal(err)
		}
		audit, _ := s.ListAudit(ctx, "d-1")
		if len(audit) != 2 || audit[0].Kind != "created" || audit[1].Kind != "pushed" {
			t.Errorf("audit = %+v", audit)
		}
	})
}

func TestPolicies(t *testing.T) {
	backends(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		if err := s.PutPolicy(ctx, StoredPolicy{Name: "p", Spec: []byte(`{"mode":"observe"}`)}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutPolicy(ctx, StoredPolicy{Name: " "}); err == nil {
			t.Error("empty policy name accepted")
		}
		p, err := s.GetPolicy(ctx, "p")
		if err != nil || string(p.Spec) != `{"mode":"observe"}` {
			t.Fatalf("policy = %+v, %v", p, err)
		}
		if err := s.DeletePolicy(ctx, "p"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeletePolicy(ctx, "p"); !errors.Is(err, ErrNotFound) {
			t.Errorf("second delete = %v", err)
		}
		if ps, _ := s.ListPolicies(ctx); len(ps) != 0 {
			t.Errorf("policies after delete = %v", ps)
		}
	})
}

func TestBoltSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := OpenBolt(dir); err == nil || !strings.Contains(err.Error(), "another mcp process holds it") {
		t.Fatalf("second open = %v", err)
	}
}

// TestDecisionSurvivesKill9 stores a decision in a child process, kills it with SIGKILL as
// soon as CreateDecision returns, and finds the decision after reopening.
func TestDecisionSurvivesKill9(t *testing.T) {
	if dir := os.Getenv("MCP_STORE_KILL_DIR"); dir != "" {
		s, err := OpenBolt(dir)
		if err != nil {
			fmt.Println("open:", err)
			os.Exit(1)
		}
		d := decision("d-kill", "svc")
		if err := s.CreateDecision(context.Background(), d, Desired{Target: Target{Service: "svc"}, Knobs: d.Knobs, DecisionID: d.ID}); err != nil {
			fmt.Println("create:", err)
			os.Exit(1)
		}
		fmt.Println("acknowledged")
		time.Sleep(time.Hour) // killed here
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDecisionSurvivesKill9$")
	cmd.Env = append(os.Environ(), "MCP_STORE_KILL_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, _ := out.Read(buf)
	if !strings.Contains(string(buf[:n]), "acknowledged") {
		t.Fatalf("child said %q", buf[:n])
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	s, err := OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d, err := s.GetDecision(context.Background(), "d-kill")
	if err != nil || d.Knobs.GOGC == nil || *d.Knobs.GOGC != 150 {
		t.Fatalf("after kill -9: %+v, %v", d, err)
	}
	if des, _ := s.ListDesired(context.Background()); len(des) != 1 || des[0].DecisionID != "d-kill" {
		t.Errorf("desired after kill -9 = %+v", des)
	}
}
