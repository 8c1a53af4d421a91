// DOM and RPC helpers. Every string from the chain goes into the page as a text node
// (createTextNode / textContent), never as markup, so chain data cannot inject HTML.
import { t } from './i18n.js';

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

export class ApiError extends Error {
  constructor(status, code, message) { super(`${code}: ${message}`); this.status = status; this.code = code; }
}

export async function api(path, opts) {
  const r = await fetch(path, opts);
  let body = null;
  try { body = await r.json(); } catch { body = null; }
  if (!r.ok) {
    const e = (body && body.error) || {};
    throw new ApiError(r.status, e.code || r.status, e.message || r.statusText);
  }
  return body;
}

export async function apiOrNull(path) {
  try { return await api(path); } catch (e) { if (e.status === 404) return null; throw e; }
}

// POST /query, at most 8 at once (the node's query gate answers 429 past its limit)
let running = 0;
const waiting = [];
export async function query(contract, method, args = {}) {
  if (running >= 8) await new Promise((res) => waiting.push(res));
  running++;
  try {
    const r = await api('/query', { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ contract, method, args }) });
    return r.value;
  } finally {
    running--;
    const next = waiting.shift();
    if (next) next();
  }
}

let statusCache = null;
export async function chainStatus(fresh = false) {
  if (!statusCache || fresh) statusCache = await api('/status');
  return statusCache;
}

export const link = (href, text, cls) => h('a', { href, class: cls }, text);
export const mono = (text) => h('span', { class: 'mono' }, text);
export const short = (hex, n = 12) => (hex && hex.length > n + 2 ? hex.slice(0, n) + '…' : hex || '');
export const hashLink = (href, hex, n = 16) => h('a', { href, class: 'mono', title: hex }, short(hex, n));
export const blockLink = (height) => link(`#/block/${height}`, String(height));
export const addrLink = (a) => (a ? hashLink(`#/address/${a}`, a, 12) : '');

export function fmtTime(ms) {
  if (ms === null || ms === undefined) return '';
  const d = new Date(ms);
  const p = (n, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fixed2(v) {
  if (v === null || v === undefined) return '';
  const neg = v < 0; const a = Math.abs(v);
  const s = `${Math.floor(a / 100).toLocaleString('en-US')}.${String(a % 100).padStart(2, '0')}`;
  return neg ? '-' + s : s;
}
export const yuan = fixed2; // fen -> yuan
export const kwh = fixed2; // 0.01 kWh -> kWh
export const pct = (bp) => (bp === null || bp === undefined ? 'n/a' : `${fixed2(bp)} %`);
export const showDate = (v) => `${Math.floor(v / 10000)}-${String(Math.floor(v / 100) % 100).padStart(2, '0')}-${String(v % 100).padStart(2, '0')}`;

export function section(title, ...children) {
  return h('section', { class: 'panel' }, title ? h('h2', {}, title) : null, children);
}

export function table(cols, rows, attrs = {}) {
  // cols: [label, (row) => cell, 'num'?]
  return h('table', attrs,
    h('thead', {}, h('tr', {}, cols.map(([label, , cls]) => h('th', { class: cls }, label)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, cols.map(([, f, cls]) => h('td', { class: cls }, f(r)))))));
}

export function kv(pairs, attrs = {}) {
  return h('dl', { class: 'kv', ...attrs }, pairs.filter(Boolean).map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
}

export const json = (v) => h('pre', { class: 'json' }, JSON.stringify(v, null, 2));
export const empty = (text, attrs = {}) => h('div', { class: 'empty', ...attrs }, text);
export const badge = (text, cls = '') => h('span', { class: `badge ${cls}` }, text);
export const errorBox = (e) => h('div', { class: 'error', 'data-error': '1' }, `${t('error')}: ${e.message || e}`);

export function card(label, value, id) {
  return h('div', { class: 'card', 'data-card': id }, h('div', { class: 'k' }, label), h('div', { class: 'v' }, value));
}
