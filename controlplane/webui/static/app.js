// MCP status page. It reads the JSON API of the server that serves it and shows the
// instances, services, decisions and policies, and charts of the selected instance's
// signals. No framework and no build step: the DOM is built with h() and s(), and text is
// always set as text, because service names and reasons come from agents and people.
'use strict';

(() => {
  const REFRESH_MS = 5000;
  // math.MaxInt64 ("no limit") arrives as 9223372036854775807, past a double's exact range.
  const NO_LIMIT = 9e18;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const state = {
    instances: null, // apiv1.Instance[], sorted by service then id
    services: null,
    decisions: null,
    policies: null,
    selected: null, // instance id whose charts are shown
    window: '15m',
    signals: null, // {instance, samples} for the selected instance
    signalsError: null,
    watching: false, // the SSE stream of instances is open
    lastUpdate: null,
    problems: new Map(), // endpoint → message of its last failure
  };
  // What each section last drew, so an unchanged answer redraws nothing (and an open
  // <details> or the keyboard focus stays where it is).
  const drawn = {};

  // ---------------------------------------------------------------- DOM helpers

  function append(el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : String(c));
    }
    return el;
  }

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
      else el.setAttribute(k, v === true ? '' : v);
    }
    return append(el, children);
  }

  function s(tag, attrs, ...children) {
    const el = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v !== null && v !== undefined) el.setAttribute(k, v);
    }
    return append(el, children);
  }

  const q = (sel, root = document) => root.querySelector(sel);
  const testid = (id) => q(`[data-testid="${id}"]`);

  // ---------------------------------------------------------------- formatting

  function fixed(v, digits) {
    return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }

  const fmt = {
    bytes(b) {
      if (b === null || b === undefined || !Number.isFinite(b)) return '—';
      if (b >= NO_LIMIT) return 'none';
      const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
      let v = b;
      let i = 0;
      while (Math.abs(v) >= 1024 && i < units.length - 1) {
        v /= 1024;
        i++;
      }
      const digits = i === 0 || Number.isInteger(v) || v >= 100 ? 0 : v >= 10 ? 1 : 2;
      return `${fixed(v, digits)} ${units[i]}`;
    },
    limitBytes(b) {
      return !b ? 'none' : fmt.bytes(b);
    },
    pct(f) {
      const p = f * 100;
      if (p === 0) return '0%';
      return `${fixed(p, Math.abs(p) < 1 ? 2 : Math.abs(p) < 10 ? 1 : 0)}%`;
    },
    ms(sec) {
      if (sec >= 1) return `${fixed(sec, sec >= 10 ? 1 : 2)} s`;
      const m = sec * 1000;
      if (m === 0) return '0 ms';
      return `${fixed(m, m < 1 ? 2 : m < 10 ? 1 : 0)} ms`;
    },
    rate(r) {
      return `${fixed(r, r > 0 && r < 10 ? 1 : 0)} req/s`;
    },
    cores(c) {
      if (!c) return 'none';
      const v = Number(c.toFixed(2));
      return `${v} ${v === 1 ? 'core' : 'cores'}`;
    },
    gogc(g) {
      return g === -1 ? 'off' : fixed(g, 0);
    },
    count(n) {
      return fixed(n, 0);
    },
    number(v) {
      return Number.isInteger(v) ? fixed(v, 0) : String(Number(v.toPrecision(3)));
    },
  };

  function ago(t) {
    const sec = (Date.now() - Date.parse(t)) / 1000;
    if (!Number.isFinite(sec)) return '—';
    if (sec < 2) return 'just now';
    if (sec < 60) return `${Math.floor(sec)} s ago`;
    if (sec < 3600) return `${Math.floor(sec / 60)} min ago`;
    if (sec < 86400) return `${Math.floor(sec / 3600)} h ago`;
    return `${Math.floor(sec / 86400)} d ago`;
  }

  function clock(t, withSeconds = true) {
    const d = new Date(t);
    const opts = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };
    if (withSeconds) opts.second = '2-digit';
    const time = d.toLocaleTimeString(undefined, opts);
    if (d.toDateString() === new Date().toDateString()) return time;
    return `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${time}`;
  }

  // A <time> that says how long ago; tick() keeps its text current between refreshes.
  function agoEl(t) {
    return h('time', { datetime: t, title: new Date(t).toString(), 'data-ago': t }, ago(t));
  }

  function shortID(id) {
    const i = id.lastIndexOf('-');
    return i > 0 ? `…${id.slice(i + 1)}` : id;
  }

  // knobParts lists the knobs a knob change sets as [name, value] pairs, and the HPA target
  // (a workload setting, carried beside the change) when there is one.
  function knobParts(k, hpa) {
    const parts = [];
    if (k && k.reset) {
      parts.push(['reset', 'to start-up values']);
    } else if (k) {
      if (k.gogc !== undefined && k.gogc !== null) parts.push(['GOGC', fmt.gogc(k.gogc)]);
      if (k.memory_limit_bytes !== undefined && k.memory_limit_bytes !== null) parts.push(['GOMEMLIMIT', fmt.bytes(k.memory_limit_bytes)]);
      if (k.memory_limit_ratio !== undefined && k.memory_limit_ratio !== null) parts.push(['GOMEMLIMIT', `${k.memory_limit_ratio} × limit`]);
      if (k.gomaxprocs !== undefined && k.gomaxprocs !== null) parts.push(['GOMAXPROCS', k.gomaxprocs === 0 ? 'default' : fmt.count(k.gomaxprocs)]);
    }
    if (hpa !== undefined && hpa !== null) parts.push(['HPA target', `${hpa}%`]);
    return parts;
  }

  // beforeValue is a knob's value before a decision, from the Knobs the agents reported.
  function beforeValue(before, name) {
    if (!before) return null;
    switch (name) {
      case 'GOGC': return fmt.gogc(before.gogc);
      case 'GOMEMLIMIT': return fmt.bytes(before.memory_limit_bytes);
      case 'GOMAXPROCS': return fmt.count(before.gomaxprocs);
    }
    return null;
  }

  function knobsEl(k, before, emptyText, hpa) {
    const parts = knobParts(k, hpa);
    if (parts.length === 0) return h('span', { class: 'muted' }, emptyText);
    return h('div', { class: 'kvs' }, parts.map(([name, value]) => {
      const from = beforeValue(before, name);
      // The spaces between the spans are for copying and screen readers; CSS sets the gaps.
      return h('span', { class: 'kv', 'data-knob': name },
        h('span', { class: 'k' }, name), ' ',
        from !== null && from !== value ? [h('span', { class: 'from' }, from), ' ', h('span', { class: 'arrow' }, '→'), ' '] : null,
        h('span', { class: 'v' }, value));
    }));
  }

  // Evidence keys are the tuner's signal names; their suffix says the unit.
  function evidenceValue(key, v) {
    if (key.endsWith('_bytes_per_second')) return `${fmt.bytes(v)}/s`;
    if (key.endsWith('limit_bytes') || key.endsWith('limit_cores')) {
      if (!v) return 'none';
    }
    if (key.endsWith('_bytes')) return fmt.bytes(v);
    if (key.endsWith('_fraction') || key === 'error_rate') return fmt.pct(v);
    if (key === 'requests_per_second') return fmt.rate(v);
    if (key.endsWith('_per_second')) return `${fmt.number(v)}/s`;
    if (key.endsWith('_seconds') || key.endsWith('_per_request')) return fmt.ms(v);
    if (key.endsWith('_cores')) return `${fmt.number(v)} cores`;
    return fmt.number(v);
  }

  function badge(kind, value, text, extra = {}) {
    return h('span', { class: `badge ${kind}-${value}`, ...extra }, h('span', { class: 'dot', 'aria-hidden': 'true' }), text || value);
  }

  function emptyRow(cols, testID, ...content) {
    return h('tr', {}, h('td', { colspan: cols, class: 'empty', 'data-testid': testID }, ...content));
  }

  // replaceRows swaps a tbody's rows and gives the keyboard focus back to the same control
  // in the new rows.
  function replaceRows(tbody, rows) {
    const focusKey = document.activeElement && tbody.contains(document.activeElement)
      ? document.activeElement.getAttribute('data-focus-key') : null;
    tbody.replaceChildren(...rows);
    if (focusKey) {
      const again = tbody.querySelector(`[data-focus-key="${CSS.escape(focusKey)}"]`);
      if (again) again.focus();
    }
  }

  function setCount(name, n) {
    const el = q(`[data-count="${name}"]`);
    if (el) el.textContent = n === null ? '' : `(${n})`;
  }

  function changed(section, data) {
    const json = JSON.stringify(data);
    if (drawn[section] === json) return false;
    drawn[section] = json;
    return true;
  }

  // ---------------------------------------------------------------- header

  function healthCounts() {
    const c = { healthy: 0, suspect: 0, gone: 0 };
    for (const i of state.instances || []) c[i.health] = (c[i.health] || 0) + 1;
    return c;
  }

  function renderHeader() {
    testid('server').textContent = location.host;
    const c = healthCounts();
    const items = ['healthy', 'suspect', 'gone'].map((hl) =>
      h('li', { class: `health-${hl}${c[hl] ? '' : ' zero'}`, 'data-testid': `count-${hl}` },
        h('span', { class: 'dot', 'aria-hidden': 'true' }), h('strong', {}, fmt.count(c[hl])), ` ${hl}`));
    if (state.services) {
      items.push(h('li', { class: state.services.length ? '' : 'zero', 'data-testid': 'count-services' },
        h('strong', {}, fmt.count(state.services.length)), state.services.length === 1 ? ' service' : ' services'));
    }
    testid('health-summary').replaceChildren(...items);
    renderUpdated();
  }

  function renderUpdated() {
    const el = testid('updated');
    if (!state.lastUpdate) return;
    const live = state.watching && state.problems.size === 0;
    el.replaceChildren(
      h('span', { class: `live${live ? '' : ' off'}`, 'aria-hidden': 'true' }),
      live ? 'Live' : 'Polling',
      ` · updated ${clock(state.lastUpdate)}`);
    el.title = live ? 'Instances stream from /api/v1/watch; the rest refreshes every 5 s.'
      : `Refreshing every ${REFRESH_MS / 1000} s.`;
  }

  function renderProblems() {
    const el = testid('problem');
    if (state.problems.size === 0) {
      el.hidden = true;
      el.replaceChildren();
      return;
    }
    el.hidden = false;
    const [path, msg] = state.problems.entries().next().value;
    el.replaceChildren(`Cannot read ${path} from the MCP server: ${msg}. Showing the last data received; retrying every ${REFRESH_MS / 1000} s.`);
  }

  // ---------------------------------------------------------------- services

  function renderServices() {
    const list = state.services;
    if (!list || !changed('services', list)) return;
    setCount('services', list.length);
    const rows = list.map((svc) => {
      const health = Object.entries(svc.health || {}).filter(([, n]) => n > 0);
      return h('tr', { 'data-testid': 'service-row', 'data-service': svc.name },
        h('th', { scope: 'row', class: 'mono' }, svc.name),
        h('td', { class: 'num' }, fmt.count(svc.instances)),
        h('td', {}, health.length
          ? h('div', { class: 'kvs' }, health.map(([hl, n]) => badge('health', hl, `${n} ${hl}`)))
          : h('span', { class: 'muted' }, 'no instance now')),
        h('td', { 'data-testid': 'service-knobs' }, knobsEl(svc.desired, null, 'defaults: no decision in force')),
        h('td', {}, svc.decision_id
          ? h('a', { href: `#decision-${svc.decision_id}`, class: 'mono', title: svc.decision_id }, shortID(svc.decision_id))
          : h('span', { class: 'muted' }, '—')));
    });
    replaceRows(testid('services-body'), rows.length ? rows : [emptyRow(5, 'services-empty',
      'No services yet. A service appears when its first instance registers or a decision names it.')]);
  }

  // ---------------------------------------------------------------- instances

  function knobCell(value, source, name) {
    return h('td', { 'data-testid': `knob-${name}` },
      h('div', { class: 'knob' },
        h('span', { class: 'knob-value' }, value),
        source ? h('span', { class: `source source-${source}`, 'data-testid': `source-${name}`, title: `${name} comes from: ${source}` }, source) : null));
  }

  function renderInstances() {
    const list = state.instances;
    if (!list) return;
    setCount('instances', list.length);
    const rows = list.map((inst) => {
      const selected = inst.id === state.selected;
      const where = [inst.namespace && inst.pod ? `${inst.namespace}/${inst.pod}` : inst.hostname,
        inst.pid ? `pid ${inst.pid}` : null, inst.go_version].filter(Boolean).join(' · ');
      const rt = inst.runtime || {};
      const limits = inst.limits || {};
      // The button's aria-pressed tells assistive technology which instance is shown;
      // aria-selected is not allowed on the rows of a plain table.
      return h('tr', { 'data-testid': 'instance-row', 'data-instance-id': inst.id, class: selected ? 'selected' : null },
        h('th', { scope: 'row' },
          h('button', { class: 'select', type: 'button', 'data-focus-key': inst.id, 'aria-pressed': String(selected),
            title: 'Show this instance\'s signals', onclick: () => select(inst.id, true) }, inst.id),
          h('span', { class: 'sub' }, where)),
        h('td', { class: 'mono', 'data-testid': 'instance-service' }, inst.service),
        h('td', { 'data-testid': 'instance-health' },
          badge('health', inst.health, inst.health),
          inst.guard && inst.guard.active ? h('span', { class: 'sub' }, badge('guard', 'active', `memory guard: GOGC ${inst.guard.gogc}`)) : null,
          !inst.connected && inst.health !== 'gone' ? h('span', { class: 'sub' }, 'session closed') : null),
        knobCell(fmt.gogc(inst.knobs.gogc), inst.sources.gogc, 'gogc'),
        knobCell(fmt.bytes(inst.knobs.memory_limit_bytes), inst.sources.memory_limit, 'gomemlimit'),
        knobCell(fmt.count(inst.knobs.gomaxprocs), inst.sources.gomaxprocs, 'gomaxprocs'),
        h('td', { class: 'num', 'data-testid': 'memory-limit', title: limits.error || null }, fmt.limitBytes(limits.memory_bytes),
          limits.error ? h('span', { class: 'sub' }, 'limits unreadable') : null),
        h('td', { class: 'num', 'data-testid': 'cpu-limit' }, fmt.cores(limits.cpu_cores)),
        h('td', { class: 'num', 'data-testid': 'live-heap' }, fmt.bytes(rt.live_heap_bytes),
          rt.heap_goal_bytes ? h('span', { class: 'sub' }, `goal ${fmt.bytes(rt.heap_goal_bytes)}`) : null),
        h('td', { class: 'nowrap', 'data-testid': 'last-heartbeat' }, agoEl(inst.last_heartbeat)));
    });
    if (rows.length === 0) {
      const host = location.hostname.includes(':') ? `[${location.hostname}]` : location.hostname;
      rows.push(emptyRow(10, 'instances-empty',
        'No instances registered yet — start a service with ', h('code', {}, `MCP_ENDPOINT=${host}:50051`),
        ' (the agent API address, ', h('code', {}, 'mcp serve --agent-addr'), ').'));
    }
    replaceRows(testid('instances-body'), rows);
  }

  function setInstances(list) {
    state.instances = [...list].sort((a, b) => a.service.localeCompare(b.service) || a.id.localeCompare(b.id));
    const ids = new Set(state.instances.map((i) => i.id));
    if (!state.selected || !ids.has(state.selected)) {
      // Keep a selection that went away only while its row is still listed; otherwise
      // show the first instance, so the charts are never empty for no reason.
      const next = state.instances.length ? state.instances[0].id : null;
      if (next !== state.selected) select(next, false);
    }
    renderInstances();
    renderHeader();
    renderCharts();
  }

  function select(id, byUser) {
    if (state.selected === id) return;
    state.selected = id;
    state.signals = null;
    state.signalsError = null;
    delete drawn.charts;
    if (byUser) history.replaceState(null, '', id ? `#instance=${encodeURIComponent(id)}` : location.pathname);
    if (state.instances) renderInstances();
    renderCharts();
    loadSignals();
  }

  // ---------------------------------------------------------------- decisions

  function renderDecisions() {
    const list = state.decisions;
    if (!list || !changed('decisions', list)) return;
    setCount('decisions', list.length);
    const rows = list.map((d) => {
      const acks = d.acks || {};
      const evidence = [['Evidence', d.evidence], ['Predicted', d.prediction], ['Observed', d.observed]]
        .filter(([, m]) => m && Object.keys(m).length);
      return h('tr', { id: `decision-${d.id}`, 'data-testid': 'decision-row', 'data-decision-id': d.id },
        h('td', { class: 'nowrap' }, h('time', { datetime: d.created_at, title: new Date(d.created_at).toString() }, clock(d.created_at)),
          h('span', { class: 'sub', title: d.id }, shortID(d.id))),
        h('td', { class: 'nowrap', 'data-testid': 'decision-target' },
          h('span', { class: 'mono' }, d.service),
          h('span', { class: 'sub' }, d.instance ? `instance ${d.instance}` : d.workload ? `${d.namespace}/${d.workload}` : 'all instances')),
        h('td', { 'data-testid': 'decision-knobs' }, knobsEl(d.knobs, d.before, '—', d.hpa_target_utilization)),
        h('td', {}, h('span', { class: `mode mode-${d.mode}`, 'data-testid': 'decision-mode' }, d.mode)),
        h('td', { class: 'nowrap', 'data-testid': 'decision-source' }, d.source, d.policy ? h('span', { class: 'sub' }, `policy ${d.policy}`) : null),
        h('td', { 'data-testid': 'decision-outcome' }, badge('outcome', d.outcome, d.outcome),
          d.rollback_of ? h('span', { class: 'sub', title: d.rollback_of }, `undoes ${shortID(d.rollback_of)}`) : null,
          d.canary ? h('span', { class: 'sub' }, `canary ${d.canary}`) : null),
        h('td', { class: 'nowrap', 'data-testid': 'decision-acks' }, acks.targeted
          ? [`${acks.applied}/${acks.targeted} applied`, acks.rejected ? h('span', { class: 'sub acks-rejected' }, `${acks.rejected} rejected`) : null]
          : h('span', { class: 'muted' }, '—')),
        h('td', {},
          h('p', { class: 'reason', 'data-testid': 'decision-reason' }, d.reason),
          evidence.length ? h('details', { class: 'evidence' }, h('summary', {}, 'Evidence'),
            evidence.map(([title, m]) => [h('h4', {}, title),
              h('dl', {}, Object.keys(m).sort().map((k) => h('div', {}, h('dt', {}, k.replaceAll('_', ' ')), h('dd', {}, evidenceValue(k, m[k])))))])) : null));
    });
    replaceRows(testid('decisions-body'), rows.length ? rows : [emptyRow(8, 'decisions-empty',
      'No decisions yet. The tuner records one when a policy\'s workload needs a change; ',
      h('code', {}, 'mcp knobs set --service NAME --gogc 150'), ' makes one by hand.')]);
  }

  // ---------------------------------------------------------------- policies

  function renderPolicies() {
    const list = state.policies;
    if (!list || !changed('policies', list)) return;
    setCount('policies', list.length);
    const rows = [];
    for (const p of [...list].sort((a, b) => a.name.localeCompare(b.name))) {
      const head = h('th', { scope: 'row' }, h('span', { class: 'mono' }, p.name), h('span', { class: 'sub' }, `from ${p.source}`));
      const mode = h('td', {}, p.mode ? h('span', { class: `mode mode-${p.mode}` }, p.mode) : h('span', { class: 'muted' }, '—'));
      const workloads = p.workloads || [];
      if (workloads.length === 0) {
        rows.push(h('tr', { 'data-testid': 'policy-row', 'data-policy': p.name }, head, mode,
          h('td', { colspan: 5, class: 'muted' }, 'No workload matched yet: the tuner evaluates a workload once it has instances and signals.')));
        continue;
      }
      workloads.forEach((w, i) => {
        rows.push(h('tr', { 'data-testid': 'policy-row', 'data-policy': p.name, 'data-service': w.service },
          i === 0 ? head : h('th', { scope: 'row', 'aria-label': p.name }),
          i === 0 ? mode : h('td', {}),
          h('td', {}, h('span', { class: 'mono' }, w.service), h('span', { class: 'sub' }, `${w.instances} ${w.instances === 1 ? 'instance' : 'instances'}`)),
          h('td', {}, badge('phase', w.phase, w.phase)),
          h('td', {}, knobsEl(w.current, null, 'defaults')),
          h('td', { 'data-testid': 'policy-recommended' }, knobsEl(w.recommended, null, 'no change', w.recommended_hpa_target_utilization)),
          h('td', {}, h('p', { class: 'reason', 'data-testid': 'policy-reason' }, w.reason || '—'),
            w.evaluated ? h('span', { class: 'sub' }, 'evaluated ', agoEl(w.evaluated)) : null)));
      });
    }
    replaceRows(testid('policies-body'), rows.length ? rows : [emptyRow(7, 'policies-empty',
      'No tuning policies: the tuner changes nothing without one. Write a TuningPolicy and run ',
      h('code', {}, 'mcp policy apply -f policy.yaml'), '.')]);
  }

  // ---------------------------------------------------------------- charts

  const CHARTS = [
    { id: 'gc-cpu', title: 'GC CPU', fmt: fmt.pct, series: [{ key: 'gc_cpu_fraction', label: 'GC share of the runtime\'s CPU' }] },
    {
      id: 'heap', title: 'Heap', fmt: fmt.bytes, series: [
        { key: 'live_heap_bytes', label: 'Live heap' },
        { key: 'heap_goal_bytes', label: 'Heap goal' },
        { key: 'memory_limit_bytes', label: 'Memory limit', none: 'Memory limit: none' },
      ],
    },
    { id: 'gogc', title: 'GOGC in effect', fmt: fmt.gogc, step: true, series: [{ key: 'gogc', label: 'GOGC' }] },
    {
      id: 'gomemlimit', title: 'GOMEMLIMIT in effect', fmt: fmt.bytes, step: true, series: [{ key: 'gomemlimit_bytes', label: 'GOMEMLIMIT' }],
      nodata: 'No GOMEMLIMIT in effect: Go\'s default, no soft memory limit.',
    },
    {
      id: 'latency', title: 'Latency', fmt: fmt.ms, series: [
        { key: 'latency_p99_seconds', label: 'p99' },
        { key: 'latency_p50_seconds', label: 'p50' },
      ],
      nodata: 'No requests measured in this window.',
    },
    { id: 'rps', title: 'Requests', fmt: fmt.rate, series: [{ key: 'requests_per_second', label: 'Requests per second' }], nodata: 'No requests measured in this window.' },
  ];

  // niceMax rounds a chart's top up to a round number whose half is round too, as the
  // axis is labelled at 0, half and top.
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 3, 4, 5, 6, 8, 10]) if (v <= m * p) return m * p;
    return 10 * p;
  }

  // Byte charts get round binary steps, so the axis reads 32 MiB rather than 33.6 MiB.
  function niceMaxBytes(v) {
    if (!(v > 0)) return 1;
    const unit = Math.pow(1024, Math.max(0, Math.floor(Math.log(v) / Math.log(1024))));
    return niceMax(v / unit) * unit;
  }

  // Some figures are only reported for some intervals (GC CPU, for one, is known only
  // for intervals in which a GC cycle ended), so a line joins the samples that have a
  // value and breaks only where nothing was reported for longer than GAP_MS.
  const GAP_MS = 30000;

  // segments splits points [x, y|null, t] into runs of drawable points.
  function segments(points) {
    const out = [];
    let cur = null;
    let lastT = -Infinity;
    for (const p of points) {
      if (p[1] === null) continue;
      if (!cur || p[2] - lastT > GAP_MS) {
        cur = [];
        out.push(cur);
      }
      cur.push(p);
      lastT = p[2];
    }
    return out;
  }

  function linePath(segs, step) {
    let d = '';
    for (const seg of segs) {
      // A lone sample is drawn as a dot: a zero-length line with round caps.
      if (seg.length === 1) {
        d += `M${seg[0][0].toFixed(1)},${seg[0][1].toFixed(1)}h0.01`;
        continue;
      }
      seg.forEach(([x, y], i) => {
        if (i === 0) d += `M${x.toFixed(1)},${y.toFixed(1)}`;
        else if (step) d += `H${x.toFixed(1)}${y !== seg[i - 1][1] ? `V${y.toFixed(1)}` : ''}`;
        else d += `L${x.toFixed(1)},${y.toFixed(1)}`;
      });
    }
    return d;
  }

  function areaPath(segs, base) {
    return segs.filter((seg) => seg.length > 1).map((seg) =>
      `${linePath([seg], false)}L${seg[seg.length - 1][0].toFixed(1)},${base.toFixed(1)}L${seg[0][0].toFixed(1)},${base.toFixed(1)}Z`).join('');
  }

  function value(sample, key) {
    const v = sample[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) return null;
    if (key === 'gogc' && v < 0) return null; // GOGC off: nothing to plot on this scale
    if (key.endsWith('limit_bytes') && (v === 0 || v >= NO_LIMIT)) return null;
    return v;
  }

  function drawChart(def, samples, width) {
    const height = 150;
    const pad = { l: 62, r: 10, t: 8, b: 20 };
    const times = samples.map((x) => Date.parse(x.time));
    const t0 = times[0];
    const t1 = Math.max(times[times.length - 1], t0 + 1000);
    let top = 0;
    for (const sm of samples) for (const sr of def.series) top = Math.max(top, value(sm, sr.key) ?? 0);
    top = def.fmt === fmt.bytes ? niceMaxBytes(top * 1.08) : niceMax(top * 1.08);
    const X = (t) => pad.l + ((t - t0) / (t1 - t0)) * (width - pad.l - pad.r);
    const Y = (v) => pad.t + (1 - v / top) * (height - pad.t - pad.b);

    const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
    for (const f of [0, 0.5, 1]) {
      const y = Y(top * f);
      svg.append(s('line', { class: 'gridline', x1: pad.l, x2: width - pad.r, y1: y, y2: y }),
        s('text', { class: 'axis', x: pad.l - 8, y: y + 3.5, 'text-anchor': 'end' }, def.fmt(top * f)));
    }
    const recent = Date.now() - times[times.length - 1] < 15000;
    svg.append(s('text', { class: 'axis', x: pad.l, y: height - 4, 'text-anchor': 'start' }, clock(t0, false)),
      s('text', { class: 'axis', x: width - pad.r, y: height - 4, 'text-anchor': 'end' }, recent ? 'now' : clock(t1, false)));

    // Applied decisions that reached this instance, as markers: the charts then show what
    // each change did.
    // They go on top of the pointer overlay, so that their triangles show the reason on
    // hover; their lines let the pointer through (CSS).
    const markers = [];
    for (const d of decisionsFor(state.selected)) {
      const t = Date.parse(d.created_at);
      if (t < t0 || t > t1) continue;
      const x = X(t);
      markers.push(s('g', { class: 'marker', 'data-decision-id': d.id },
        s('title', {}, `${clock(d.created_at)} ${knobParts(d.knobs, d.hpa_target_utilization).map((p) => p.join(' ')).join(', ')}: ${d.reason}`),
        s('line', { x1: x, x2: x, y1: pad.t, y2: height - pad.b }),
        s('path', { d: `M${(x - 5).toFixed(1)},${pad.t - 3}h10l-5,7z` })));
    }

    const drawnSeries = [];
    def.series.forEach((sr, i) => {
      const pts = samples.map((sm, j) => {
        const v = value(sm, sr.key);
        return [X(times[j]), v === null ? null : Y(v), times[j]];
      });
      const segs = segments(pts);
      const n = segs.reduce((sum, seg) => sum + seg.length, 0);
      if (n === 0) return;
      if (def.series.length === 1 && !def.step) {
        // A light area under a lone series makes its level readable at a glance.
        svg.append(s('path', { class: 'area', d: areaPath(segs, Y(0)) }));
      }
      svg.append(s('path', { class: `series series-${i}`, d: linePath(segs, def.step), 'data-series': sr.key, 'data-points': n }));
      drawnSeries.push({ sr, i });
    });

    // The cursor: a line and a dot per series at the sample under the pointer.
    const cursor = s('g', { visibility: 'hidden' });
    const cline = s('line', { class: 'cursor', y1: pad.t, y2: height - pad.b });
    cursor.append(cline);
    const dots = drawnSeries.map(({ i }) => s('circle', { class: `cursor-dot series-${i}`, r: 3.5 }));
    cursor.append(...dots);
    svg.append(cursor);
    const overlay = s('rect', { x: pad.l, y: pad.t, width: Math.max(0, width - pad.l - pad.r), height: height - pad.t - pad.b, fill: 'transparent' });
    svg.append(overlay, ...markers);
    return { svg, overlay, cursor, cline, dots, drawnSeries, X, Y, times, marks: markers.length };
  }

  function decisionsFor(id) {
    const inst = (state.instances || []).find((i) => i.id === id);
    if (!inst) return [];
    return (state.decisions || []).filter((d) => d.mode === 'apply' && d.service === inst.service &&
      (!d.instance || d.instance === id) && !['rejected', 'no-instances'].includes(d.outcome));
  }

  function latest(samples, key) {
    for (let i = samples.length - 1; i >= 0; i--) {
      const v = value(samples[i], key);
      if (v !== null) return v;
    }
    return null;
  }

  function chartFigure(def, samples, width) {
    const has = def.series.some((sr) => samples.some((sm) => value(sm, sr.key) !== null));
    const main = latest(samples, def.series[0].key);
    const now = h('span', { class: 'now' }, main === null ? '—' : def.fmt(main));
    const at = h('span', { class: 'at' });
    const fig = h('figure', { class: 'chart', 'data-testid': `chart-${def.id}` },
      h('figcaption', {}, h('span', { class: 'title' }, def.title), at, now));
    if (!has || samples.length < 2) {
      fig.append(h('div', { class: 'nodata', 'data-testid': 'chart-nodata' },
        samples.length < 2 ? 'Waiting for a second sample…' : def.nodata || 'Not reported by this instance.'));
      return fig;
    }
    const c = drawChart(def, samples, width);
    const summary = def.series.map((sr) => {
      const v = latest(samples, sr.key);
      return `${sr.label} ${v === null ? 'not reported' : def.fmt(v)}`;
    }).join(', ');
    c.svg.setAttribute('aria-label', `${def.title} over the window: latest ${summary}.`);
    fig.append(h('div', { class: 'plot' }, c.svg));

    const legendVals = [];
    fig.append(h('ul', { class: 'legend' }, def.series.map((sr, i) => {
      const v = latest(samples, sr.key);
      if (v === null && sr.none) return h('li', {}, h('span', { class: `swatch series-${i}` }), sr.none);
      if (v === null) return null;
      const val = h('span', { class: 'val' }, def.fmt(v));
      legendVals[i] = { val, latest: v };
      return h('li', {}, h('span', { class: `swatch series-${i}`, 'aria-hidden': 'true' }), `${sr.label} `, val);
    }), c.marks ? h('li', { title: 'Applied decisions; hover a marker for its reason' },
      h('span', { class: 'swatch marker', 'aria-hidden': 'true' }), c.marks === 1 ? 'decision' : `${c.marks} decisions`) : null));

    const reset = () => {
      c.cursor.setAttribute('visibility', 'hidden');
      now.textContent = main === null ? '—' : def.fmt(main);
      at.textContent = '';
      legendVals.forEach((l) => { if (l) l.val.textContent = def.fmt(l.latest); });
    };
    c.overlay.addEventListener('pointermove', (ev) => {
      const box = c.svg.getBoundingClientRect();
      const x = ((ev.clientX - box.left) / box.width) * width;
      let j = 0;
      for (let k = 1; k < c.times.length; k++) if (Math.abs(c.X(c.times[k]) - x) < Math.abs(c.X(c.times[j]) - x)) j = k;
      const px = c.X(c.times[j]);
      c.cline.setAttribute('x1', px);
      c.cline.setAttribute('x2', px);
      c.drawnSeries.forEach(({ sr, i }, n) => {
        const v = value(samples[j], sr.key);
        c.dots[n].setAttribute('visibility', v === null ? 'hidden' : 'visible');
        if (v !== null) {
          c.dots[n].setAttribute('cx', px);
          c.dots[n].setAttribute('cy', c.Y(v));
        }
        if (legendVals[i]) legendVals[i].val.textContent = v === null ? '—' : def.fmt(v);
      });
      const v0 = value(samples[j], def.series[0].key);
      now.textContent = v0 === null ? '—' : def.fmt(v0);
      at.textContent = clock(samples[j].time);
      c.cursor.setAttribute('visibility', 'visible');
    });
    c.overlay.addEventListener('pointerleave', reset);
    return fig;
  }

  function renderCharts() {
    const box = testid('charts');
    const subject = testid('signals-subject');
    const inst = (state.instances || []).find((i) => i.id === state.selected);
    subject.replaceChildren(...(inst ? ['· ', h('code', {}, inst.id), ` (${inst.service})`] : []));
    box.setAttribute('data-instance-id', state.selected || '');
    const key = { sel: state.selected, n: state.instances && state.instances.length, win: state.window, sig: state.signals, err: state.signalsError, w: box.clientWidth,
      marks: decisionsFor(state.selected).map((d) => d.id) };
    if (!changed('charts', key)) return;
    if (!state.selected) {
      box.replaceChildren(h('p', { class: 'empty', 'data-testid': 'charts-empty' },
        state.instances && state.instances.length === 0 ? 'Charts appear here once an instance registers and sends telemetry.' : 'Select an instance to see its signals.'));
      return;
    }
    if (state.signalsError) {
      box.replaceChildren(h('p', { class: 'empty', 'data-testid': 'charts-empty' }, state.signalsError));
      return;
    }
    if (!state.signals) {
      box.replaceChildren(h('p', { class: 'empty' }, 'Loading signals…'));
      return;
    }
    const samples = state.signals.samples || [];
    if (samples.length === 0) {
      box.replaceChildren(h('p', { class: 'empty', 'data-testid': 'charts-empty' },
        `No signal samples in the last ${testid('signals-window').selectedOptions[0].textContent}: is the instance still exporting OTLP metrics?`));
      return;
    }
    // Draw at the figures' real width so that lines and labels are not stretched.
    box.replaceChildren(...CHARTS.map((def) => chartFigure(def, [], 0)));
    const probe = q('figure.chart', box);
    const width = Math.max(200, Math.floor(probe.clientWidth - 24));
    box.replaceChildren(...CHARTS.map((def) => chartFigure(def, samples, width)));
  }

  // ---------------------------------------------------------------- loading

  async function getJSON(path) {
    const resp = await fetch(path, { headers: { Accept: 'application/json' }, cache: 'no-store' });
    let body = null;
    try {
      body = await resp.json();
    } catch {
      // An answer that is not JSON is reported by its status below.
    }
    if (!resp.ok) {
      const err = new Error((body && body.error) || `${resp.status} ${resp.statusText}`);
      err.status = resp.status;
      throw err;
    }
    return body;
  }

  // load fetches one endpoint and records whether it failed, for the banner.
  async function load(path, use) {
    try {
      use(await getJSON(path));
      state.problems.delete(path);
      return true;
    } catch (err) {
      state.problems.set(path, err.message || String(err));
      return false;
    }
  }

  let signalsSeq = 0;
  async function loadSignals() {
    const id = state.selected;
    if (!id) return;
    const seq = ++signalsSeq;
    try {
      const v = await getJSON(`/api/v1/instances/${encodeURIComponent(id)}/signals?since=${state.window}`);
      if (seq !== signalsSeq) return; // an answer for an earlier selection
      state.signals = v;
      state.signalsError = null;
    } catch (err) {
      if (seq !== signalsSeq) return;
      // 404 is the API saying the instance has sent no OTLP metrics yet; its message says
      // what to check, so it is shown as it is.
      state.signals = null;
      state.signalsError = err.status === 404 ? err.message : `Cannot read the signals: ${err.message}`;
    }
    renderCharts();
  }

  async function refresh() {
    await Promise.all([
      load('/api/v1/instances', (v) => setInstances(v.instances || [])),
      load('/api/v1/services', (v) => { state.services = v.services || []; renderServices(); }),
      load('/api/v1/decisions?limit=50', (v) => { state.decisions = v.decisions || []; renderDecisions(); renderCharts(); }),
      load('/api/v1/policies', (v) => { state.policies = v.policies || []; renderPolicies(); }),
      loadSignals(),
    ]);
    state.lastUpdate = new Date();
    renderHeader();
    renderProblems();
  }

  // watch streams instance changes (health, knobs) as they happen; the periodic refresh
  // still brings heartbeats and live heap, which do not wake the stream.
  function watch() {
    if (!window.EventSource) return;
    const es = new EventSource('/api/v1/watch');
    es.addEventListener('instances', (ev) => {
      state.watching = true;
      try {
        setInstances(JSON.parse(ev.data).instances || []);
      } catch {
        return;
      }
      state.lastUpdate = new Date();
      renderUpdated();
    });
    es.addEventListener('error', () => {
      // EventSource reconnects by itself; until then the refresh polls.
      state.watching = false;
      renderUpdated();
    });
  }

  function tick() {
    for (const el of document.querySelectorAll('time[data-ago]')) el.textContent = ago(el.getAttribute('data-ago'));
  }

  async function loadVersion() {
    try {
      const v = await getJSON('/api/v1/version');
      const el = testid('version');
      el.textContent = v.version;
      el.title = [v.version, v.commit && `commit ${v.commit}`, v.go_version, v.platform].filter(Boolean).join(' · ');
    } catch {
      testid('version').textContent = 'unknown';
    }
  }

  function start() {
    const m = /^#instance=(.+)$/.exec(location.hash);
    if (m) state.selected = decodeURIComponent(m[1]);
    const win = testid('signals-window');
    win.value = state.window;
    win.addEventListener('change', () => {
      state.window = win.value;
      state.signals = null;
      loadSignals();
    });
    let resizeTimer = 0;
    window.addEventListener('resize', () => {
      clearTimeout(resizeTimer);
      resizeTimer = setTimeout(renderCharts, 150);
    });
    renderHeader();
    renderCharts();
    loadVersion();
    watch();
    refresh();
    setInterval(refresh, REFRESH_MS);
    setInterval(tick, 1000);
  }

  start();
})();
