// Members and roles, governance (committee, proposals, votes), side chains.
import { t } from '../i18n.js';
import { h, api, apiOrNull, section, table, kv, json, empty, badge, blockLink, addrLink, mono } from '../lib.js';

export async function members() {
  const d = await api('/console/members');
  return h('div', { 'data-view': 'members' },
    h('h1', {}, `${t('members')} (${d.members.length})`),
    section(null, table([
      [t('name'), (m) => m.name || ''],
      [t('address'), (m) => addrLink(m.address)],
      [t('roles'), (m) => (m.roles || []).map((r) => [badge(r, r === 'admin' ? 'warn' : ''), ' '])],
      [t('status'), (m) => (m.active ? badge(t('active'), 'ok') : badge(t('offline'), 'bad'))],
      [t('since'), (m) => blockLink(m.since || 0), 'num'],
    ], d.members, { id: 'members' })));
}

const STATUS_CLS = { open: 'warn', passed: 'ok', failed: 'bad', expired: '' };

export async function governance() {
  const [g, p] = await Promise.all([api('/governance'), api('/governance/proposals')]);
  const c = g.committee || {};
  return h('div', { 'data-view': 'governance' },
    h('h1', {}, t('governance')),
    section(t('committee'), kv([
      ['participation_threshold', String(c.participation_threshold)],
      ['win_threshold', String(c.win_threshold)], ['proposal_ttl_blocks', String(c.proposal_ttl_blocks)],
    ], { id: 'committee' }),
    (c.governors || []).length ? table([[t('governors'), (x) => addrLink(x[0])], [t('weight'), (x) => String(x[1]), 'num']], c.governors, { id: 'governors' })
      : empty(t('none'))),
    section(t('proposals'), p.proposals.length ? table([
      [t('id'), (x) => String(x.id), 'num'], [t('kind'), (x) => x.kind],
      [t('status'), (x) => badge(x.status, STATUS_CLS[x.status])], [t('proposer'), (x) => addrLink(x.proposer)],
      [t('votes'), (x) => (x.votes || []).map(([a, ch]) => h('div', {}, addrLink(a), ' ', badge(ch, ch === 'yes' ? 'ok' : 'bad')))],
      [t('expires'), (x) => String(x.expires_at ?? ''), 'num'], [t('payload'), (x) => json(x.payload)],
    ], p.proposals, { id: 'proposals' }) : empty(t('no_proposals'), { id: 'no-proposals' })),
    section(t('next_validators'), table([
      [t('name'), (v) => v.name], [t('public_key'), (v) => mono(v.public_key)], ['p2p', (v) => v.p2p || ''],
      [t('since'), (v) => String(v.joined), 'num'],
    ], g.next_validators, { id: 'next-validators' })),
    section(t('params'), table([[t('name'), ([k]) => k], [t('value'), ([, v]) => JSON.stringify(v)]],
      Object.entries(g.params || {}), { id: 'params' })));
}

// Side chains come from the anchor RPC (GET /anchor/clients, /anchor/packets/{chain}) when the
// node has it, else from a GET /sidechains list; a route is asked for only when the node's
// OpenAPI lists it, so a node without side chains causes no failed request.
export const CLIENTS_PATH = '/anchor/clients';
export const SIDECHAINS_PATH = '/sidechains';

function duration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return '';
  const neg = ms < 0; let s = Math.floor(Math.abs(ms) / 1000);
  const d = Math.floor(s / 86400); s %= 86400;
  const hh = Math.floor(s / 3600); s %= 3600;
  const mm = Math.floor(s / 60); s %= 60;
  const txt = `${d ? `${d}d ` : ''}${String(hh).padStart(2, '0')}:${String(mm).padStart(2, '0')}:${String(s).padStart(2, '0')}`;
  return neg ? `-${txt}` : txt;
}

const CLIENT_CLS = { ACTIVE: 'ok', EXPIRED: 'warn', FROZEN: 'bad' };

export async function sidechains(_arg, _params, ctx) {
  const spec = await api('/openapi.json');
  let clients = null; let source = null;
  if (spec.paths[CLIENTS_PATH]) {
    source = CLIENTS_PATH;
    clients = await api(CLIENTS_PATH);
    if (spec.paths['/anchor/packets/{dst_chain}']) {
      await Promise.all(clients.map(async (c) => {
        try { c.packets = await api(`/anchor/packets/${encodeURIComponent(c.chain_id)}`); } catch { c.packets = null; }
      }));
    }
  } else if (spec.paths[SIDECHAINS_PATH]) {
    source = SIDECHAINS_PATH;
    const d = await apiOrNull(SIDECHAINS_PATH);
    clients = Array.isArray(d) ? d : d && (d.clients || d.sidechains);
  }
  // the expiry countdown and the lag tick every second while the page is open
  const ticking = [];
  const live = (f) => { const el = h('span', {}, f()); ticking.push([el, f]); return el; };
  const timer = setInterval(() => ticking.forEach(([el, f]) => { el.textContent = f(); }), 1000);
  ctx.onLeave(() => clearInterval(timer));
  return h('div', { 'data-view': 'sidechains' },
    h('h1', {}, t('sidechains')),
    section(null, !clients || !clients.length ? empty(t('no_sidechains'), { id: 'sidechains-empty' })
      : table([
        [t('chain_id'), (c) => c.chain_id || c.name || ''],
        [t('status'), (c) => badge(String(c.status ?? ''), CLIENT_CLS[c.status])],
        [t('trusted_height'), (c) => String(c.latest_height ?? c.trusted_height ?? ''), 'num'],
        [t('lag'), (c) => (c.latest_time_ms ? live(() => duration(Date.now() - c.latest_time_ms)) : String(c.lag ?? '')), 'num'],
        [t('expires_in'), (c) => (c.expires_at_ms ? live(() => duration(c.expires_at_ms - Date.now())) : ''), 'num'],
        [t('validators'), (c) => String(c.validators ?? ''), 'num'],
        [t('packets'), (c) => (c.packets ? `${c.packets.packets.length} / next ${c.packets.next_sequence}` : ''), 'num'],
        [t('value'), (c) => h('details', {}, h('summary', {}, '…'), json(c))],
      ], clients, { id: 'sidechains' })),
    h('p', { class: 'muted' }, `${t('sidechain_src')}: ${source ? `GET ${source}` : `GET ${CLIENTS_PATH} / GET ${SIDECHAINS_PATH} (${t('none')})`}`));
}
