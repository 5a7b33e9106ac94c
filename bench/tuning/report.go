package tuning

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
)

// WriteTable prints every profile's contenders, with the ratios the targets are stated in.
func WriteTable(w io.Writer, results []ProfileResult) {
	for _, r := range results {
		fmt.Fprintf(w, "\nprofile %s (%.0f req/s)\n", r.Profile, r.Rate)
		t := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(t, "contender\tCPU-s/1k req\tvs default\tGC CPU\tp50 ms\tp99 ms\tp99.9 ms\tpeak MiB\tOOM kills\tthrottled s\trequests\t")
		def := find(r.Contenders, "default")
		for _, c := range r.Contenders {
			ratio := math.NaN()
			if def != nil && def.CPUSecondsPer1kRequests > 0 {
				ratio = c.CPUSecondsPer1kRequests / def.CPUSecondsPer1kRequests
			}
			fmt.Fprintf(t, "%s\t%.3f\t%.2f×\t%.1f%%\t%.1f\t%.1f\t%.1f\t%d\t%d\t%.1f\t%d\t\n", c.Name, c.CPUSecondsPer1kRequests, ratio,
				100*c.GCCPUFraction, c.P50ms, c.P99ms, c.P999ms, c.PeakMemoryBytes>>20, c.OOMKills, c.ThrottledSeconds, c.Requests)
		}
		t.Flush()
		if o := find(r.Contenders, "oracle-static"); o != nil {
			fmt.Fprintf(w, "oracle-static: %s\n", o.Settings)
		}
	}
	fmt.Fprintln(w)
	for _, line := range Targets(results) {
		fmt.Fprintln(w, line)
	}
}

func find(ms []Measurement, name string) *Measurement {
	for i := range ms {
		if ms[i].Name == name {
			return &ms[i]
		}
	}
	return nil
}

// Targets states each of the targets and whether this run met it.
func Targets(results []ProfileResult) []string {
	var out []string
	mark := func(ok bool) string {
		if ok {
			return "met"
		}
		return "MISSED"
	}
	for _, r := range results {
		mcp, def, oracle := find(r.Contenders, "mcp"), find(r.Contenders, "default"), find(r.Contenders, "oracle-static")
		if mcp == nil || def == nil || oracle == nil {
			continue
		}
		vsDef := mcp.CPUSecondsPer1kRequests / def.CPUSecondsPer1kRequests
		vsOracle := mcp.CPUSecondsPer1kRequests / oracle.CPUSecondsPer1kRequests
		if r.Profile == "alloc-heavy" {
			out = append(out, fmt.Sprintf("%s: mcp at most 0.75× default's CPU per request: %.2f× — %s", r.Profile, vsDef, mark(vsDef <= 0.75)))
		}
		if r.Profile == "phased" {
			out = append(out, fmt.Sprintf("%s: mcp better than oracle-static: %.2f× — %s", r.Profile, vsOracle, mark(vsOracle < 1)))
		} else {
			out = append(out, fmt.Sprintf("%s: mcp at most 1.05× oracle-static: %.2f× — %s", r.Profile, vsOracle, mark(vsOracle <= 1.05)))
		}
		out = append(out, fmt.Sprintf("%s: mcp zero OOM kills: %d — %s", r.Profile, mcp.OOMKills, mark(mcp.OOMKills == 0)))
		out = append(out, fmt.Sprintf("%s: mcp p99 no worse than default: %.1fms vs %.1fms — %s", r.Profile, mcp.P99ms, def.P99ms,
			mark(mcp.P99ms <= def.P99ms*1.05)))
	}
	return out
}

// WriteJSON writes the results in the benchmark's published shape.
func WriteJSON(path string, results []ProfileResult) error {
	b, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// WritePlot draws, for one profile, each contender's GOGC, GOMEMLIMIT and GC CPU over time
// as an SVG: three stacked panels sharing the time axis.
func WritePlot(path string, r ProfileResult) error {
	const w, panelH, left, right, top, gap = 960.0, 170.0, 70.0, 190.0, 30.0, 40.0
	colors := map[string]string{"default": "#7f7f7f", "automemlimit": "#1f77b4", "gogc-off-memlimit": "#2ca02c",
		"uber-gogctuner": "#9467bd", "oracle-static": "#ff7f0e", "mcp": "#d62728"}
	type panel struct {
		title string
		value func(Point) float64
		unit  string
	}
	panels := []panel{
		{"GOGC (off drawn at 0)", func(p Point) float64 {
			if p.GOGC < 0 {
				return 0
			}
			return p.GOGC
		}, ""},
		{"GOMEMLIMIT (MiB)", func(p Point) float64 { return p.MemLimit / (1 << 20) }, ""},
		{"GC share of CPU (%)", func(p Point) float64 { return 100 * p.GCFraction }, ""},
	}
	h := top + float64(len(panels))*(panelH+gap) + 20
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="%.0f" y="18" font-size="15">mcp bench tuning — profile %s: knobs and GC CPU over time</text>`+"\n", left, r.Profile)
	tmax := 0.0
	for _, pts := range r.Series {
		if n := len(pts); n > 0 && pts[n-1].T > tmax {
			tmax = pts[n-1].T
		}
	}
	if tmax == 0 {
		tmax = 1
	}
	for i, pn := range panels {
		y0 := top + float64(i)*(panelH+gap)
		vmax := 0.0
		for _, pts := range r.Series {
			for _, p := range pts {
				if v := pn.value(p); !math.IsNaN(v) && !math.IsInf(v, 0) && v > vmax {
					vmax = v
				}
			}
		}
		if vmax == 0 {
			vmax = 1
		}
		vmax *= 1.1
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" font-weight="bold">%s</text>`+"\n", left, y0+12, pn.title)
		fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#ccc"/>`+"\n", left, y0+18, w-left-right, panelH-18)
		for k := 0; k <= 4; k++ {
			v := vmax * float64(k) / 4
			yy := y0 + panelH - (panelH-18)*float64(k)/4
			fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="end" fill="#555">%.0f</text><line x1="%.0f" x2="%.0f" y1="%.1f" y2="%.1f" stroke="#eee"/>`+"\n",
				left-6, yy+4, v, left, w-right, yy, yy)
		}
		for _, name := range Contenders {
			pts := r.Series[name]
			var path strings.Builder
			pen := false
			for _, p := range pts {
				v := pn.value(p)
				if math.IsNaN(v) || math.IsInf(v, 0) {
					pen = false
					continue
				}
				x := left + (w-left-right)*p.T/tmax
				yy := y0 + panelH - (panelH-18)*v/vmax
				if pen {
					fmt.Fprintf(&path, " L%.1f,%.1f", x, yy)
				} else {
					fmt.Fprintf(&path, " M%.1f,%.1f", x, yy)
					pen = true
				}
			}
			if path.Len() > 0 {
				width := 1.5
				if name == "mcp" {
					width = 2.5
				}
				fmt.Fprintf(&b, `<path d="%s" fill="none" stroke="%s" stroke-width="%.1f"/>`+"\n", path.String(), colors[name], width)
			}
		}
	}
	for i, name := range Contenders {
		y := top + 30 + float64(i)*18
		fmt.Fprintf(&b, `<line x1="%.0f" x2="%.0f" y1="%.0f" y2="%.0f" stroke="%s" stroke-width="3"/><text x="%.0f" y="%.0f">%s</text>`+"\n",
			w-right+15, w-right+40, y, y, colors[name], w-right+46, y+4, name)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="%.0f" text-anchor="middle" fill="#555">seconds since the run started (warm-up, then the measured window)</text>`+"\n", left+(w-left-right)/2, h-6)
	b.WriteString("</svg>\n")
	return os.WriteFile(path, []byte(b.String()), 0o644)
}
