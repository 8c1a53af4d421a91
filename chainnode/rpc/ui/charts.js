// Small inline-SVG charts (no library): bars and a line over a series of {x, y, tip}.
const NS = 'http://www.w3.org/2000/svg';
const W = 600; const H = 170; const L = 44; const R = 8; const T = 10; const B = 24;

function s(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function frame(points, label, fmt) {
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
  const ys = points.map((p) => p.y);
  const max = Math.max(1e-9, ...ys);
  svg.append(s('line', { class: 'axis', x1: L, y1: H - B, x2: W - R, y2: H - B }));
  svg.append(s('line', { class: 'axis', x1: L, y1: T, x2: L, y2: H - B }));
  svg.append(s('text', { class: 'lbl', x: L - 4, y: T + 8, 'text-anchor': 'end' }, fmt(max)));
  svg.append(s('text', { class: 'lbl', x: L - 4, y: H - B, 'text-anchor': 'end' }, fmt(0)));
  if (points.length) {
    svg.append(s('text', { class: 'lbl', x: L, y: H - 6 }, String(points[0].x)));
    svg.append(s('text', { class: 'lbl', x: W - R, y: H - 6, 'text-anchor': 'end' }, String(points[points.length - 1].x)));
  }
  // x by time when the points carry one (t), else evenly spaced
  const t0 = points.length ? points[0].t : undefined;
  const span = points.length ? (points[points.length - 1].t - t0) : 0;
  const sx = (i) => (t0 !== undefined && span > 0
    ? L + ((W - L - R) * (points[i].t - t0)) / span
    : L + ((W - L - R) * (points.length <= 1 ? 0.5 : i / (points.length - 1))));
  const sy = (y) => H - B - ((H - B - T) * y) / max;
  return { svg, sx, sy, max };
}

export function barChart(points, label, fmt = (v) => String(Math.round(v))) {
  const { svg, sy } = frame(points, label, fmt);
  const bw = Math.max(1, (W - L - R) / Math.max(points.length, 1) - 1);
  points.forEach((p, i) => {
    const x = L + ((W - L - R) * i) / Math.max(points.length, 1);
    const r = s('rect', { class: 'bar', x, y: sy(p.y), width: bw, height: H - B - sy(p.y) });
    r.append(s('title', {}, p.tip || `${p.x}: ${fmt(p.y)}`));
    svg.append(r);
  });
  return svg;
}

export function lineChart(points, label, fmt = (v) => String(Math.round(v))) {
  const { svg, sx, sy } = frame(points, label, fmt);
  if (points.length) {
    svg.append(s('polyline', { class: 'line', points: points.map((p, i) => `${sx(i)},${sy(p.y)}`).join(' ') }));
    points.forEach((p, i) => {
      const c = s('circle', { class: 'dot', cx: sx(i), cy: sy(p.y), r: 2.5 });
      c.append(s('title', {}, p.tip || `${p.x}: ${fmt(p.y)}`));
      svg.append(c);
    });
  }
  return svg;
}
