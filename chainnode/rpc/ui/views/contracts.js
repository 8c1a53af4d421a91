// Contracts: list, detail (versions, code hash, source, call a @view), and the FL tasks page.
import { t } from '../i18n.js';
import { h, api, query, section, table, kv, json, empty, badge, blockLink, addrLink, mono, link, errorBox, short, yuan } from '../lib.js';

export async function list() {
  const d = await api('/console/contracts');
  return h('div', { 'data-view': 'contracts' },
    h('h1', {}, t('contracts')),
    section(null, d.contracts.length ? table([
      [t('name'), (c) => link(`#/contract/${encodeURIComponent(c.name)}`, c.name)],
      [t('version'), (c) => String(c.version), 'num'],
      [t('code_hash'), (c) => mono(c.code_hash)],
      [t('owner'), (c) => addrLink(c.owner)],
      [t('frozen'), (c) => (c.frozen ? badge(t('yes'), 'bad') : t('no'))],
      [t('deployed_at'), (c) => blockLink(c.deployed_at), 'num'],
      [t('updated_at'), (c) => blockLink(c.updated_at), 'num'],
      [t('views'), (c) => String(Object.values(c.exports).filter((k) => k === 'view').length), 'num'],
    ], d.contracts, { id: 'contracts' }) : empty(t('none'))));
}

// parameters of each top-level function, read from the source ("def name(a, b=1):")
export function signatures(source) {
  const out = {};
  const re = /^def\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(([^)]*)\)/gm;
  let m;
  while ((m = re.exec(source || ''))) {
    out[m[1]] = m[2].split(',').map((p) => p.trim()).filter(Boolean).map((p) => {
      const [name, dflt] = p.split('=').map((s) => s.trim());
      return { name, optional: dflt !== undefined, dflt };
    });
  }
  return out;
}

function parseArg(text) {
  try { return JSON.parse(text); } catch { return text; }
}

export function viewForm(contract, method, params) {
  const out = h('div', { class: 'result', 'data-result': method });
  const inputs = params.map((p) => h('input', { name: p.name, 'data-arg': p.name, placeholder: p.optional ? `${p.dflt}` : '' }));
  const form = h('form', { class: 'call', 'data-method': method, onsubmit: async (ev) => {
    ev.preventDefault();
    const args = {};
    params.forEach((p, i) => { if (inputs[i].value !== '') args[p.name] = parseArg(inputs[i].value); });
    out.replaceChildren(t('loading'));
    try { out.replaceChildren(json(await query(contract, method, args))); } catch (e) { out.replaceChildren(errorBox(e)); }
  } },
  params.map((p, i) => [h('label', {}, p.name), inputs[i]]),
  h('div', { class: 'actions' }, h('button', { type: 'submit' }, `${t('call')} ${method}`)));
  return h('div', { class: 'view-call' }, h('h3', {}, `${method}(${params.map((p) => p.name).join(', ')})`), form, out);
}

export async function detail(arg) {
  const c = await api(`/console/contracts/${encodeURIComponent(arg)}`);
  const sigs = signatures(c.source);
  const views = Object.entries(c.exports).filter(([, k]) => k === 'view').map(([m]) => m);
  const exportsList = Object.entries(c.exports).filter(([, k]) => k === 'export').map(([m]) => m);
  return h('div', { 'data-view': 'contract' },
    h('h1', {}, `${t('contract')} ${c.name}`),
    section(null, kv([
      [t('name'), c.name], [t('version'), String(c.version)], [t('code_hash'), mono(c.code_hash)],
      [t('owner'), addrLink(c.owner)], [t('frozen'), c.frozen ? t('yes') : t('no')],
      [t('deployed_at'), blockLink(c.deployed_at)], [t('updated_at'), blockLink(c.updated_at)],
      [t('method'), exportsList.map((m) => badge(m))],
    ], { id: 'contract-summary' })),
    section(t('history'), c.history.length ? table([
      [t('version'), (e) => String(e.fields.version ?? ''), 'num'], [t('kind'), (e) => e.name],
      [t('code_hash'), (e) => mono((e.fields.code_hash && e.fields.code_hash.hex) || '')],
      [t('height'), (e) => blockLink(e.height), 'num'], [t('tx'), (e) => link(`#/tx/${e.tx_hash}`, e.tx_hash.slice(0, 16) + '…')],
    ], c.history, { id: 'contract-history' }) : empty(t('none'))),
    section(t('call_view'), h('div', { id: 'view-forms' }, views.length ? views.map((m) => viewForm(c.name, m, sigs[m] || [])) : empty(t('none')))),
    section(t('source'), h('pre', { id: 'contract-source' }, c.source)));
}

export const FL_CONTRACT = 'fl_receipts';
const e6 = (v) => (v / 1e6).toFixed(6).replace(/0+$/, '').replace(/\.$/, '');

function epsBar(spent, max) {
  const share = max > 0 ? Math.min(1, spent / max) : 0;
  return h('div', { class: 'epsbar' }, h('meter', { min: '0', max: '1', value: String(share), high: '0.9' }),
    ` ${e6(spent)} / ${e6(max)} (${(share * 100).toFixed(1)} %)`);
}

// one task of the fl_receipts interface (docs/fl-contracts.md on its branch): the task record,
// epsilon spent against the budget, the round chain (hashes linked round to round), rewards
async function flTask(task) {
  const safe = (p) => p.catch((e) => ({ __error: e }));
  const [rec, eps, chain, rewards] = await Promise.all([
    safe(query(FL_CONTRACT, 'get_task', { task })), safe(query(FL_CONTRACT, 'eps_spent', { task })),
    safe(query(FL_CONTRACT, 'round_chain', { task, limit: 100 })), safe(query(FL_CONTRACT, 'rewards', { task }))]);
  const bad = (x) => !x || x.__error;
  return section(`${t('task')} ${task}`, h('div', { 'data-task': task },
    bad(eps) ? null : kv([[t('eps_spent'), epsBar(eps.eps_e6, eps.eps_max_e6)], [t('rounds'), String(eps.rounds_done)]], { class: 'kv fl-eps' }),
    bad(rec) ? null : h('details', {}, h('summary', {}, t('task')), json(rec)),
    h('h3', {}, t('round_chain')),
    bad(chain) || !chain.length ? empty(t('none')) : table([
      [t('round'), (r) => String(r[0]), 'num'], ['prev_hash', (r) => mono(short(r[1], 16))],
      ['new_hash', (r) => mono(short(r[2], 16))], ['ε', (r) => e6(r[3]), 'num'],
    ], chain, { class: 'fl-rounds' }),
    h('h3', {}, t('rewards')),
    bad(rewards) ? empty(t('none')) : table([[t('participant'), ([p]) => addrLink(p)], [t('amount'), ([, f]) => yuan(f), 'num']],
      Object.entries(rewards), { class: 'fl-rewards' })));
}

export async function fl() {
  const d = await api('/console/contracts');
  const c = d.contracts.find((x) => x.name === FL_CONTRACT);
  if (!c) {
    return h('div', { 'data-view': 'fl' }, h('h1', {}, t('fl')), section(null, empty(t('no_fl'), { id: 'fl-empty' })));
  }
  const [full, created] = await Promise.all([api(`/console/contracts/${FL_CONTRACT}`),
    api(`/console/events?contract=${FL_CONTRACT}&name=task_created&limit=50&scan=5000`)]);
  const tasks = [...new Set(created.events.map((e) => e.fields.task))];
  const sigs = signatures(full.source);
  const views = Object.entries(full.exports).filter(([, k]) => k === 'view').map(([m]) => m);
  return h('div', { 'data-view': 'fl' }, h('h1', {}, t('fl')),
    section(null, kv([[t('version'), String(c.version)], [t('code_hash'), mono(c.code_hash)], [t('tasks'), String(tasks.length)]])),
    tasks.length ? await Promise.all(tasks.map(flTask)) : section(null, empty(t('none'))),
    section(t('call_view'), views.map((m) => viewForm(FL_CONTRACT, m, sigs[m] || []))));
}
