package hpa

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// short is a one-day run, small enough for a unit test.
func short(seed uint64) Config {
	c := DefaultConfig().Quick()
	c.Seed = seed
	c.PeakRate = 1000
	return c
}

func TestRunIsDeterministic(t *testing.T) {
	a, err := Run(context.Background(), short(7), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Run(context.Background(), short(7), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the same seed gave different reports:\n%+v\n%+v", a.Strategies, b.Strategies)
	}
	c, err := Run(context.Background(), short(8), nil)
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(a.Strategies, c.Strategies) {
		t.Error("another seed gave the same report")
	}
	// What any faithful simulation must show: a higher static target costs fewer
	// replica-hours, and utilization follows the target.
	s := a.Strategies
	if len(s) != 4 || s[0].Name != "static-50" || s[3].Name != "mcp" {
		t.Fatalf("strategies: %+v", s)
	}
	if !(s[0].ReplicaHours > s[1].ReplicaHours && s[1].ReplicaHours > s[2].ReplicaHours) || s[0].RatioToBaseline != 1 {
		t.Errorf("replica-hours do not fall with the target: %+v", s)
	}
	for i, target := range []float64{0.5, 0.7, 0.8} {
		if u := s[i].MeanUtilization; u > target*1.05 || u < target*0.85 {
			t.Errorf("%s: mean utilization %.2f", s[i].Name, u)
		}
	}
}

func TestRunStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, short(1), nil); err == nil {
		t.Error("a cancelled run returned no error")
	}
}

func TestTrace(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Days = 3
	a, b := newTrace(cfg), newTrace(cfg)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("the same seed gave different traces")
	}
	if len(a.rate) != 3*day {
		t.Fatalf("%d seconds", len(a.rate))
	}
	// Diurnal: 04:00 is the trough, 16:00 the peak (away from spikes, within the noise).
	at := func(h float64) float64 { return a.rate[int(h*3600)] }
	if lo, hi := at(4), at(16); !(lo < 0.35*cfg.PeakRate && hi > 0.8*cfg.PeakRate) {
		t.Errorf("04:00 %v, 16:00 %v of a %v peak", lo, hi, cfg.PeakRate)
	}
	for _, s := range a.spikes {
		if s.Factor < 2 || s.Factor > 3 || s.End-s.Start < 120 || s.End-s.Start > 600 {
			t.Errorf("spike %+v outside ×2–×3, 2–10 minutes", s)
		}
		before, during := a.rate[s.Start-1], a.rate[s.Start]
		if s.Start > 0 && during/before < 0.9*s.Factor {
			t.Errorf("spike %+v: load %v → %v is not sudden", s, before, during)
		}
	}
	if len(a.spikes) == 0 {
		t.Error("no spikes in 3 days at 4 a day")
	}
}

func TestJSONShape(t *testing.T) {
	rep, err := Run(context.Background(), short(3), nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := rep.WriteJSON(&buf); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Strategies []map[string]any `json:"strategies"`
	}
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range doc.Strategies {
		name, ok1 := s["name"].(string)
		rh, ok2 := s["replica_hours"].(float64)
		vm, ok3 := s["slo_violation_minutes"].(float64)
		if !ok1 || !ok2 || !ok3 || !(rh > 0) || vm < 0 || vm != math.Trunc(vm) {
			t.Errorf("strategy %v lacks name, replica_hours or slo_violation_minutes", s)
		}
		names = append(names, name)
	}
	if strings.Join(names, ",") != "static-50,static-70,static-80,mcp" {
		t.Errorf("strategies %v", names)
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	for _, s := range append(names, "replica-hours", "SLO-violation min", "target: mcp ≤ 0.80×") {
		if !strings.Contains(table.String(), s) {
			t.Errorf("table lacks %q:\n%s", s, table.String())
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Days, c.SLO, c.StartDelay, c.Cores, c.ScaleOn = 0, 0, -time.Second, 0, "memory"
	c.MCP.Initial = 95
	err := c.Validate()
	for _, s := range []string{"--days", "--slo", "--start-delay", "--cores", "--scale-on", "mcp initial target"} {
		if err == nil || !strings.Contains(err.Error(), s) {
			t.Errorf("error %v does not name %s", err, s)
		}
	}
}
