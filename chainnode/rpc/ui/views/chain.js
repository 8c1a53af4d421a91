// Blocks, block detail, transaction detail, address, search.
import { t } from '../i18n.js';
import { h, api, section, table, kv, json, empty, badge, blockLink, addrLink, hashLink, mono, fmtTime, chainStatus, link } from '../lib.js';

export async function blocks(_arg, params) {
  const before = params.get('before');
  const d = await api(`/console/blocks?limit=50${before ? `&before=${encodeURIComponent(before)}` : ''}`);
  const last = d.blocks.length ? d.blocks[d.blocks.length - 1].height : 0;
  return h('div', { 'data-view': 'blocks' },
    h('h1', {}, t('blocks')),
    section(null, table([
      [t('height'), (b) => blockLink(b.height), 'num'],
      [t('time'), (b) => fmtTime(b.timestamp_ms)],
      [t('hash'), (b) => hashLink(`#/block/${b.height}`, b.hash, 24)],
      [t('proposer'), (b) => String(b.proposer)],
      [t('view'), (b) => String(b.view), 'num'],
      [t('txs'), (b) => String(b.txs), 'num'],
      [t('signers'), (b) => String(b.signers.length), 'num'],
    ], d.blocks, { id: 'blocks' }),
    h('div', { class: 'pager' },
      before ? link('#/blocks', t('newer')) : null,
      last > 1 ? link(`#/blocks?before=${last}`, t('older'), 'older') : null)));
}

export async function block(arg) {
  const [b, st] = await Promise.all([api(`/blocks/${encodeURIComponent(arg)}`), chainStatus()]);
  const hd = b.header;
  const names = st.validators.map((v) => v.name);
  return h('div', { 'data-view': 'block' },
    h('h1', {}, `${t('block')} #${b.height}`),
    h('div', { class: 'pager' },
      b.height > 0 ? link(`#/block/${b.height - 1}`, `← #${b.height - 1}`) : null,
      link(`#/block/${b.height + 1}`, `#${b.height + 1} →`)),
    section(t('header'), kv([
      [t('hash'), mono(b.hash)], [t('height'), String(hd.height)], [t('time'), fmtTime(hd.timestamp_ms)],
      [t('proposer'), String(hd.proposer)], [t('view'), String(hd.view)],
      ['prev_hash', hd.height > 1 ? hashLink(`#/block/${hd.height - 1}`, hd.prev_hash, 64) : mono(hd.prev_hash)],
      ['tx_root', mono(hd.tx_root)], ['receipt_root', mono(hd.receipt_root)],
      ['state_root', mono(hd.state_root)], ['validators_hash', mono(hd.validators_hash)],
      ['next_validators_hash', mono(hd.next_validators_hash)], ['last_commit_hash', mono(hd.last_commit_hash)],
    ], { id: 'block-header' })),
    section(`${t('certificate')} (${b.certificate.signatures.length})`, table([
      [t('index'), (s) => String(s[0]), 'num'],
      [t('name'), (s) => names[s[0]] || '?'],
      [t('vote_time'), (s) => fmtTime(s[1])],
      [t('signature'), (s) => mono(s[2])],
    ], b.certificate.signatures, { id: 'signers' })),
    section(`${t('transactions')} (${b.tx_hashes.length})`, b.tx_hashes.length
      ? table([[t('index'), (x) => String(x.i), 'num'], [t('hash'), (x) => hashLink(`#/tx/${x.h}`, x.h, 64)]],
        b.tx_hashes.map((x, i) => ({ h: x, i })), { id: 'block-txs' })
      : empty(t('none'))));
}

function eventsTable(events) {
  return table([
    [t('contract'), (e) => e.contract],
    [t('name'), (e) => e.name],
    [t('fields'), (e) => json(e.fields)],
  ], events, { id: 'tx-events' });
}

export async function tx(arg) {
  const d = await api(`/tx/${encodeURIComponent(arg)}`);
  if (d.status === 'pending') {
    return h('div', { 'data-view': 'tx' }, h('h1', {}, t('tx')), section(null, kv([[t('hash'), mono(d.hash)], [t('status'), badge(t('pending'), 'warn')]])));
  }
  const x = d.tx; const rc = d.receipt;
  const args = Object.entries(x.args || {});
  return h('div', { 'data-view': 'tx' },
    h('h1', {}, t('tx')),
    section(null, kv([
      [t('hash'), mono(d.hash)],
      [t('status'), badge(rc.status, rc.status === 'ok' ? 'ok' : 'bad')],
      [t('block'), blockLink(d.height)], [t('index'), String(d.index)],
      [t('sender'), addrLink(x.sender)], [t('kind'), x.kind],
      [t('contract'), x.contract.startsWith('sys.') ? x.contract : link(`#/contract/${encodeURIComponent(x.contract)}`, x.contract)],
      [t('method'), x.method], ['nonce', mono(x.nonce)], ['expires_at', String(x.expires_at)],
      ['gas_limit', String(x.gas_limit)],
    ], { id: 'tx-summary' })),
    section(t('args'), args.length ? table([
      [t('name'), ([k]) => k], [t('value'), ([, v]) => (typeof v === 'object' && v !== null ? json(v) : String(v))],
    ], args, { id: 'tx-args' }) : empty(t('none'))),
    section(t('receipt'), kv([
      [t('status'), rc.status], [t('gas_used'), String(rc.gas_used)],
      rc.error_code ? [t('error'), `${rc.error_code}: ${rc.error_message}`] : null,
      [t('value'), json(rc.value)],
    ], { id: 'tx-receipt' })),
    section(`${t('tx_events')} (${rc.events.length})`, rc.events.length ? eventsTable(rc.events) : empty(t('none'))));
}

export async function address(arg) {
  const d = await api(`/console/address/${encodeURIComponent(arg)}`);
  const m = d.member;
  return h('div', { 'data-view': 'address' },
    h('h1', {}, `${t('address')} ${d.address}`),
    section(t('member'), m ? kv([
      [t('name'), m.name], [t('roles'), (m.roles || []).map((r) => badge(r))],
      [t('status'), m.active ? t('active') : t('offline')], [t('since'), blockLink(m.since)],
    ], { id: 'address-member' }) : empty(t('not_found'))),
    section(`${t('transactions')} (${d.txs.length})`, d.txs.length ? table([
      [t('height'), (x) => blockLink(x.height), 'num'], [t('hash'), (x) => hashLink(`#/tx/${x.hash}`, x.hash, 24)],
      [t('contract'), (x) => x.contract], [t('method'), (x) => x.method],
    ], d.txs, { id: 'address-txs' }) : empty(t('none'))));
}

export async function search(arg) {
  const r = await api(`/console/search?q=${encodeURIComponent(arg)}`);
  const to = { block: `#/block/${r.height}`, tx: `#/tx/${r.hash}`, address: `#/address/${r.address}`,
    contract: `#/contract/${encodeURIComponent(r.name)}` }[r.kind];
  if (to) { setTimeout(() => { location.replace(to); }, 0); return empty(t('loading')); }
  return h('div', { 'data-view': 'search' }, h('h1', {}, t('search')), section(null, h('p', { id: 'search-none' }, `${t('not_found')}: ${arg}`), h('p', { class: 'muted' }, r.message)));
}
