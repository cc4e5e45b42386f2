// The status page: polls /v1/status (same origin, the browser's Basic credentials) and
// draws the nodes, this node's last minutes, and its recent warnings and errors.

const POLL_MS = 2000;
const SVG = 'http://www.w3.org/2000/svg';

function text(el, value) { el.textContent = value; return el; }

function cell(row, value) { text(row.insertCell(), value); }

function duration(seconds) {
  const s = Math.floor(seconds);
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172800) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

function ago(ms, now) { return `${Math.max(0, Math.round((now - ms) / 1000))} s ago`; }

function showNodes(nodes, now) {
  const body = document.querySelector('#nodes tbody');
  body.replaceChildren();
  for (const n of nodes) {
    const row = body.insertRow();
    row.dataset.node = n.node;
    if (n.draining) row.className = 'draining';
    cell(row, n.draining ? `${n.node} (draining)` : n.node);
    cell(row, n.version);
    cell(row, duration(n.uptime));
    cell(row, String(n.sessions));
    cell(row, String(n.users));
    cell(row, n.rates.received.toFixed(1));
    cell(row, n.rates.sent.toFixed(1));
    cell(row, n.rates.errors.toFixed(1));
    cell(row, ago(n.heartbeat, now));
  }
}

// One chart: a polyline per series over the points' time span, on a linear axis from 0.
function chart(id, points, series, scale = 1) {
  const svg = document.getElementById(id);
  svg.replaceChildren();
  const [w, h, left, bottom] = [400, 120, 36, 14];
  const top = Math.max(1e-9, ...points.flatMap((p) => series.map((s) => p[s] * scale)));
  const t0 = points.length ? points[0].t : 0;
  const span = points.length > 1 ? points[points.length - 1].t - t0 : 1;
  const x = (t) => left + ((t - t0) / span) * (w - left - 4);
  const y = (v) => h - bottom - (v / top) * (h - bottom - 6);
  const axis = document.createElementNS(SVG, 'path');
  axis.setAttribute('class', 'axis');
  axis.setAttribute('d', `M${left},4V${h - bottom}H${w}`);
  svg.append(axis);
  for (const [value, label] of [[top, top], [0, 0]]) {
    const t = document.createElementNS(SVG, 'text');
    t.setAttribute('x', 2);
    t.setAttribute('y', y(value) + 3);
    svg.append(text(t, Number(label.toPrecision(3)).toString()));
  }
  const minutes = document.createElementNS(SVG, 'text');
  minutes.setAttribute('x', left);
  minutes.setAttribute('y', h - 2);
  svg.append(text(minutes, points.length ? `last ${duration(span / 1000)}` : 'no data yet'));
  for (const s of series) {
    const line = document.createElementNS(SVG, 'polyline');
    line.setAttribute('class', `line ${s}`);
    line.setAttribute('points', points.map((p) => `${x(p.t).toFixed(1)},${y(p[s] * scale).toFixed(1)}`).join(' '));
    svg.append(line);
  }
}

function showErrors(errors) {
  const list = document.getElementById('errors');
  list.replaceChildren();
  if (!errors.length) {
    const li = text(document.createElement('li'), 'none');
    li.className = 'empty';
    list.append(li);
  }
  for (const e of errors) {
    const when = new Date(e.t).toISOString().slice(11, 19);
    list.append(text(document.createElement('li'), `${when} ${e.level} ${e.logger}: ${e.message}`));
  }
}

async function refresh() {
  try {
    const response = await fetch('/v1/status', { cache: 'no-store' });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const status = await response.json();
    const now = Date.now();
    text(document.getElementById('node'), status.node);
    showNodes(status.nodes, now);
    chart('chart-sessions', status.points, ['sessions']);
    chart('chart-rates', status.points, ['received', 'sent']);
    chart('chart-latency', status.points, ['p50', 'p99'], 1000);
    showErrors(status.errors);
    text(document.getElementById('updated'), `updated ${new Date(now).toLocaleTimeString()}`);
    document.body.dataset.loaded = 'true';
  } catch (error) {
    text(document.getElementById('updated'), `could not load: ${error.message}`);
  }
}

refresh();
setInterval(refresh, POLL_MS);
