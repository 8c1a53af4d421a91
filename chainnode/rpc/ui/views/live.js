// Live event stream: GET /events (WebSocket) with optional contract / name filters, plus the
// most recent committed events so the page is not empty before the next block.
import { t } from '../i18n.js';
import { h, api, section, table, json, badge, link } from '../lib.js';

const MAX_ROWS = 200;

function row(e) {
  return h('tr', { 'data-event': e.name },
    h('td', { class: 'num' }, link(`#/block/${e.height}`, String(e.height))),
    h('td', {}, link(`#/tx/${e.tx_hash}`, e.tx_hash.slice(0, 12) + '…')),
    h('td', {}, e.contract), h('td', {}, e.name), h('td', {}, json(e.fields)));
}

export async function render(_arg, params, ctx) {
  const contract = params.get('contract') || ''; const name = params.get('name') || '';
  const q = new URLSearchParams(); if (contract) q.set('contract', contract); if (name) q.set('name', name);
  const recent = await api(`/console/events?limit=30&${q}`);
  const body = h('tbody', { id: 'stream' }, recent.events.map(row));
  const state = badge(t('disconnected_ws'), 'warn');
  state.id = 'ws-state';
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const ws = new WebSocket(`${proto}//${location.host}/events?${q}`);
  ws.onopen = () => { state.textContent = t('connected_ws'); state.className = 'badge ok'; };
  ws.onclose = () => { state.textContent = t('disconnected_ws'); state.className = 'badge warn'; };
  ws.onmessage = (m) => {
    body.prepend(row(JSON.parse(m.data)));
    while (body.children.length > MAX_ROWS) body.lastChild.remove();
  };
  ctx.onLeave(() => ws.close());
  const cIn = h('input', { name: 'contract', value: contract, placeholder: t('contract') });
  const nIn = h('input', { name: 'name', value: name, placeholder: t('name') });
  const filter = h('form', { class: 'inline', onsubmit: (ev) => {
    ev.preventDefault();
    const p = new URLSearchParams(); if (cIn.value) p.set('contract', cIn.value); if (nIn.value) p.set('name', nIn.value);
    location.hash = `#/events?${p}`;
  } }, cIn, nIn, h('button', { type: 'submit' }, t('filter')), state);
  return h('div', { 'data-view': 'events' }, h('h1', {}, t('events')), filter,
    section(null, h('div', { class: 'stream' }, h('table', {},
      h('thead', {}, h('tr', {}, [t('height'), t('tx'), t('contract'), t('name'), t('fields')].map((x) => h('th', {}, x)))), body))));
}
