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

// no side-chain endpoint exists yet; /sidechains is read when a node offers it
export const SIDECHAINS_PATH = '/sidechains';

export async function sidechains() {
  // asked only when the node's OpenAPI lists it: no 404 in the browser's console
  const spec = await api('/openapi.json');
  const d = spec.paths[SIDECHAINS_PATH] ? await apiOrNull(SIDECHAINS_PATH) : null;
  const clients = d && (d.clients || d.sidechains || []);
  return h('div', { 'data-view': 'sidechains' },
    h('h1', {}, t('sidechains')),
    section(null, !clients || !clients.length ? empty(t('no_sidechains'), { id: 'sidechains-empty' })
      : table([[t('name'), (c) => c.chain_id || c.name || ''], [t('status'), (c) => String(c.status ?? '')],
        ['trusted height', (c) => String(c.trusted_height ?? ''), 'num'], ['lag', (c) => String(c.lag ?? ''), 'num'],
        ['expires', (c) => String(c.expires_in_ms ?? c.expires_at ?? '')], [t('value'), (c) => json(c)]], clients, { id: 'sidechains' })),
    h('p', { class: 'muted' }, `${t('sidechain_src')}: GET ${SIDECHAINS_PATH}`));
}
