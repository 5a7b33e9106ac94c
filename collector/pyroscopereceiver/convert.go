package pyroscopereceiver

import (
	"crypto/rand"
	"encoding/binary"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/google/pprof/profile"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pprofile"
)

// Attribute keys this receiver sets besides the upload's own labels.
const (
	attrServiceName       = "service.name"
	attrServiceInstanceID = "service.instance.id"
	attrSpyName           = "pyroscope.spy_name"
	attrSessionID         = "pyroscope.session_id"
	attrAggregation       = "pyroscope.aggregation"
	attrDisplayName       = "pyroscope.display_name"
	attrUnits             = "pyroscope.units"
	attrBuildID           = "process.executable.build_id.gnu"

	// Labels pyroscope-go sets that are not resource attributes.
	labelScopeName    = "otel.scope.name"
	labelScopeVersion = "otel.scope.version"
	labelSessionID    = "__session_id__"
	labelInstance     = "instance"
)

// toProfiles converts one parsed pprof profile and its upload metadata into
// OTLP profiles: one resource (service.name and the labels of the name), one
// scope, and one Profile per pprof sample type, all sharing one dictionary.
// Samples whose value for a sample type is zero are left out of that
// type's Profile. now fills in a time range that neither the query nor the
// profile gives.
func toProfiles(up *upload, src *profile.Profile, lim limits, now time.Time) (pprofile.Profiles, error) {
	pd := pprofile.NewProfiles()
	d := newDictionary(pd.Dictionary())

	rp := pd.ResourceProfiles().AppendEmpty()
	sp := rp.ScopeProfiles().AppendEmpty()
	setResource(rp.Resource().Attributes(), sp.Scope(), up)

	mappings := make(map[*profile.Mapping]int32, len(src.Mapping))
	for _, m := range src.Mapping {
		mappings[m] = d.mapping(m)
	}
	functions := make(map[*profile.Function]int32, len(src.Function))
	for _, f := range src.Function {
		functions[f] = d.function(f)
	}
	locations := make(map[*profile.Location]int32, len(src.Location))
	for _, l := range src.Location {
		locations[l] = d.location(l, mappings, functions)
	}

	// Stacks and labels are shared by every sample type, so they are
	// resolved once per pprof sample.
	stacks := make([]int32, len(src.Sample))
	sampleAttrs := make([][]int32, len(src.Sample))
	locs := make([]int32, 0, 64)
	for i, s := range src.Sample {
		if len(s.Location) > lim.maxStackDepth {
			return pprofile.Profiles{}, badRequest(reasonStackTooDeep,
				"a profile sample has a stack of %d frames, more than max_stack_depth (%d)", len(s.Location), lim.maxStackDepth)
		}
		locs = locs[:0]
		for _, l := range s.Location {
			locs = append(locs, locations[l])
		}
		stacks[i] = d.stack(locs)
		attrs, err := d.sampleAttributes(s, lim.labels)
		if err != nil {
			return pprofile.Profiles{}, err
		}
		sampleAttrs[i] = attrs
	}

	from, duration := timeRange(up, src, now)
	for ti, st := range src.SampleType {
		p := sp.Profiles().AppendEmpty()
		p.SetProfileID(newProfileID())
		p.SetTime(pcommon.NewTimestampFromTime(from))
		p.SetDurationNano(uint64(duration))
		p.SampleType().SetTypeStrindex(d.str(st.Type))
		p.SampleType().SetUnitStrindex(d.str(st.Unit))
		if src.PeriodType != nil {
			p.PeriodType().SetTypeStrindex(d.str(src.PeriodType.Type))
			p.PeriodType().SetUnitStrindex(d.str(src.PeriodType.Unit))
		}
		p.SetPeriod(src.Period)
		d.setProfileAttributes(p, up, st.Type)

		samples := p.Samples()
		samples.EnsureCapacity(len(src.Sample))
		for si, s := range src.Sample {
			if s.Value[ti] == 0 {
				continue
			}
			out := samples.AppendEmpty()
			out.SetStackIndex(stacks[si])
			out.Values().Append(s.Value[ti])
			if len(sampleAttrs[si]) > 0 {
				out.AttributeIndices().Append(sampleAttrs[si]...)
			}
		}
	}
	return pd, nil
}

// setResource maps the labels of the upload's name: each label becomes a
// resource attribute of the same name, except pyroscope-go's
// otel.scope.name/version, which name the instrumentation scope, and
// __session_id__, which becomes pyroscope.session_id. An "instance" label
// also sets service.instance.id unless that label is present itself. The
// application name is service.name and wins over a label of that name.
func setResource(attrs pcommon.Map, scope pcommon.InstrumentationScope, up *upload) {
	attrs.EnsureCapacity(len(up.name.labels) + 3)
	for _, l := range up.name.labels {
		switch l.name {
		case labelScopeName:
			scope.SetName(l.value)
		case labelScopeVersion:
			scope.SetVersion(l.value)
		case labelSessionID:
			attrs.PutStr(attrSessionID, l.value)
		default:
			attrs.PutStr(l.name, l.value)
		}
	}
	if instance, ok := attrs.Get(labelInstance); ok {
		if _, set := attrs.Get(attrServiceInstanceID); !set {
			attrs.PutStr(attrServiceInstanceID, instance.Str())
		}
	}
	if up.spyName != "" {
		attrs.PutStr(attrSpyName, up.spyName)
	}
	attrs.PutStr(attrServiceName, up.name.service)
}

// timeRange prefers the query's from/until, then the pprof profile's own
// time and duration, then now; a missing end makes a zero duration.
func timeRange(up *upload, src *profile.Profile, now time.Time) (time.Time, time.Duration) {
	from, until := up.from, up.until
	if from.IsZero() && src.TimeNanos > 0 {
		from = time.Unix(0, src.TimeNanos)
	}
	if until.IsZero() && !from.IsZero() && src.DurationNanos > 0 {
		until = from.Add(time.Duration(src.DurationNanos))
	}
	switch {
	case from.IsZero() && until.IsZero():
		from, until = now, now
	case from.IsZero():
		from = until
	case until.IsZero() || until.Before(from):
		until = from
	}
	return from, until.Sub(from)
}

func newProfileID() pprofile.ProfileID {
	var id pprofile.ProfileID
	_, _ = rand.Read(id[:]) // crypto/rand.Read never fails since Go 1.24.
	return id
}

// dictionary fills a ProfilesDictionary, each value once. Index 0 of every
// table is the zero value, as OTLP requires, so an index of 0 means "none".
type dictionary struct {
	d       pprofile.ProfilesDictionary
	strings map[string]int32
	attrs   map[attrKey]int32
	stacks  map[string]int32
	scratch []byte
}

type attrKey struct {
	key, unit int32
	isInt     bool
	str       string
	num       int64
}

func newDictionary(d pprofile.ProfilesDictionary) *dictionary {
	d.StringTable().Append("")
	d.MappingTable().AppendEmpty()
	d.LocationTable().AppendEmpty()
	d.FunctionTable().AppendEmpty()
	d.LinkTable().AppendEmpty()
	d.AttributeTable().AppendEmpty()
	d.StackTable().AppendEmpty()
	return &dictionary{
		d:       d,
		strings: map[string]int32{"": 0},
		attrs:   map[attrKey]int32{{}: 0},
		stacks:  map[string]int32{"": 0},
	}
}

// The tables cannot outgrow int32: every entry costs input bytes, and input is
// capped far below 2 GiB by max_decompressed_profile_size.

func (d *dictionary) str(s string) int32 {
	if i, ok := d.strings[s]; ok {
		return i
	}
	// OTLP strings are UTF-8; pprof strings are bytes.
	clean := strings.ToValidUTF8(s, "\uFFFD")
	i := int32(d.d.StringTable().Len())
	d.d.StringTable().Append(clean)
	d.strings[s] = i
	return i
}

func (d *dictionary) attr(k attrKey) int32 {
	if i, ok := d.attrs[k]; ok {
		return i
	}
	i := int32(d.d.AttributeTable().Len())
	a := d.d.AttributeTable().AppendEmpty()
	a.SetKeyStrindex(k.key)
	a.SetUnitStrindex(k.unit)
	if k.isInt {
		a.Value().SetInt(k.num)
	} else {
		a.Value().SetStr(strings.ToValidUTF8(k.str, "\uFFFD"))
	}
	d.attrs[k] = i
	return i
}

func (d *dictionary) strAttr(key, value string) int32 {
	return d.attr(attrKey{key: d.str(key), str: value})
}

func (d *dictionary) stack(locs []int32) int32 {
	d.scratch = d.scratch[:0]
	for _, l := range locs {
		d.scratch = binary.LittleEndian.AppendUint32(d.scratch, uint32(l))
	}
	if i, ok := d.stacks[string(d.scratch)]; ok {
		return i
	}
	i := int32(d.d.StackTable().Len())
	d.d.StackTable().AppendEmpty().LocationIndices().FromRaw(slices.Clone(locs))
	d.stacks[string(d.scratch)] = i
	return i
}

func (d *dictionary) mapping(m *profile.Mapping) int32 {
	i := int32(d.d.MappingTable().Len())
	out := d.d.MappingTable().AppendEmpty()
	out.SetMemoryStart(m.Start)
	out.SetMemoryLimit(m.Limit)
	out.SetFileOffset(m.Offset)
	out.SetFilenameStrindex(d.str(m.File))
	if m.BuildID != "" {
		out.AttributeIndices().Append(d.strAttr(attrBuildID, m.BuildID))
	}
	return i
}

func (d *dictionary) function(f *profile.Function) int32 {
	i := int32(d.d.FunctionTable().Len())
	out := d.d.FunctionTable().AppendEmpty()
	out.SetNameStrindex(d.str(f.Name))
	out.SetSystemNameStrindex(d.str(f.SystemName))
	out.SetFilenameStrindex(d.str(f.Filename))
	out.SetStartLine(f.StartLine)
	return i
}

func (d *dictionary) location(l *profile.Location, mappings map[*profile.Mapping]int32, functions map[*profile.Function]int32) int32 {
	i := int32(d.d.LocationTable().Len())
	out := d.d.LocationTable().AppendEmpty()
	if l.Mapping != nil {
		out.SetMappingIndex(mappings[l.Mapping])
	}
	out.SetAddress(l.Address)
	lines := out.Lines()
	lines.EnsureCapacity(len(l.Line))
	for _, ln := range l.Line {
		line := lines.AppendEmpty()
		line.SetFunctionIndex(functions[ln.Function])
		line.SetLine(ln.Line)
		line.SetColumn(ln.Column)
	}
	return i
}

// sampleAttributes turns the labels of a pprof sample (pprof.Labels in Go)
// into attribute indices, in key order so equal label sets give equal
// attributes. The same limits as for the labels of the name apply.
func (d *dictionary) sampleAttributes(s *profile.Sample, lim labelLimits) ([]int32, error) {
	n := 0
	for _, vs := range s.Label {
		n += len(vs)
	}
	for _, vs := range s.NumLabel {
		n += len(vs)
	}
	if n == 0 {
		return nil, nil
	}
	if n > lim.maxLabels {
		return nil, badRequest(reasonTooManyLabels, "a profile sample has %d labels, more than max_labels (%d)", n, lim.maxLabels)
	}
	out := make([]int32, 0, n)
	for _, k := range slices.Sorted(maps.Keys(s.Label)) {
		for _, v := range s.Label[k] {
			if err := checkLabel(k, v, lim); err != nil {
				return nil, err
			}
			out = append(out, d.strAttr(k, v))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(s.NumLabel)) {
		if err := checkLabel(k, "", lim); err != nil {
			return nil, err
		}
		units := s.NumUnit[k]
		for j, v := range s.NumLabel[k] {
			var unit int32
			if j < len(units) {
				unit = d.str(units[j])
			}
			out = append(out, d.attr(attrKey{key: d.str(k), unit: unit, isInt: true, num: v}))
		}
	}
	return out, nil
}

// setProfileAttributes records how Pyroscope reads this sample type: its
// aggregation, display name and units from the upload's sample_type_config
// (the display name tells a block profile from a mutex profile, whose pprof
// sample types are the same). Without one, the aggregation is the query's
// aggregationType, else Pyroscope's default, sum. The query's units are not
// used: a pprof upload carries several sample types, each with its own unit.
func (d *dictionary) setProfileAttributes(p pprofile.Profile, up *upload, sampleType string) {
	c := up.sampleTypes[sampleType]
	aggregation := c.Aggregation
	if aggregation == "" {
		aggregation = up.aggregationType
	}
	if aggregation == "" {
		aggregation = "sum"
	}
	for _, kv := range [][2]string{{attrAggregation, aggregation}, {attrDisplayName, c.DisplayName}, {attrUnits, c.Units}} {
		if kv[1] != "" {
			p.AttributeIndices().Append(d.strAttr(kv[0], kv[1]))
		}
	}
}
