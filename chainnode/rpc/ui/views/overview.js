// Overview: head, view, mempool, sync, peers; charts over the last 60 blocks; validators.
import { t } from '../i18n.js';
import { h, api, section, table, card, badge, blockLink, addrLink, fmtTime, short, mono, hashLink } from '../lib.js';
import { barChart, lineChart } from '../charts.js';

const STATUS_CLS = { active: 'ok', lagging: 'warn', offline: 'bad' };

function build(o) {
  const blocks = [...o.blocks].reverse(); // oldest first
  const pts = blocks.map((b) => ({ x: b.height, t: b.timestamp_ms, y: b.height, tip: `#${b.height} ${fmtTime(b.timestamp_ms)}` }));
  const bt = []; const tps = [];
  for (let i = 1; i < blocks.length; i++) {
    const dt = Math.max(1, blocks[i].timestamp_ms - blocks[i - 1].timestamp_ms) / 1000;
    bt.push({ x: blocks[i].height, y: dt, tip: `#${blocks[i].height}: ${dt.toFixed(2)} s` });
    tps.push({ x: blocks[i].height, y: blocks[i].txs / dt, tip: `#${blocks[i].height}: ${blocks[i].txs} tx / ${dt.toFixed(2)} s` });
  }
  const txs = blocks.map((b) => ({ x: b.height, y: b.txs, tip: `#${b.height}: ${b.txs} tx` }));
  return h('div', { 'data-view': 'overview' },
    h('h1', {}, t('overview')),
    h('div', { class: 'cards' },
      card(t('height'), h('a', { href: `#/block/${o.height}`, id: 'ov-height' }, String(o.height)), 'height'),
      card(t('view'), h('span', { id: 'ov-view' }, String(o.view)), 'view'),
      card(t('mempool'), h('span', { id: 'ov-mempool' }, String(o.mempool)), 'mempool'),
      card(t('sync'), h('span', { id: 'ov-sync' }, o.syncing ? t('syncing') : t('in_sync')), 'sync'),
      card(t('peers'), h('span', { id: 'ov-peers' }, String(o.peers.length)), 'peers'),
      card(t('node'), h('span', { id: 'ov-node' }, o.node), 'node')),
    h('div', { class: 'grid2', id: 'charts' },
      section(t('chart_height'), lineChart(pts, t('chart_height'))),
      section(t('chart_tps'), barChart(tps, t('chart_tps'), (v) => v.toFixed(1))),
      section(t('chart_bt'), lineChart(bt, t('chart_bt'), (v) => v.toFixed(2))),
      section(t('chart_txs'), barChart(txs, t('chart_txs')))),
    section(t('validators'), table([
      [t('index'), (v) => String(v.index), 'num'],
      [t('name'), (v) => [v.name, v.self ? [' ', badge(t('self'))] : null]],
      [t('address'), (v) => addrLink(v.address)],
      [t('status'), (v) => badge(t(v.status), STATUS_CLS[v.status])],
      [t('last_vote'), (v) => (v.last_vote_height === null ? '' : blockLink(v.last_vote_height))],
      [t('vote_time'), (v) => fmtTime(v.last_vote_ms)],
      [t('connected'), (v) => (v.connected ? t('yes') : t('no'))],
    ], o.validators, { id: 'validators' })),
    section(t('peers'), table([
      [t('public_key'), (p) => mono(short(p.public_key, 24))],
      [t('role'), (p) => p.role],
      [t('remote'), (p) => p.remote || ''],
    ], o.peers, { id: 'peers' })),
    section(t('blocks'), table([
      [t('height'), (b) => blockLink(b.height), 'num'],
      [t('time'), (b) => fmtTime(b.timestamp_ms)],
      [t('hash'), (b) => hashLink(`#/block/${b.height}`, b.hash)],
      [t('txs'), (b) => String(b.txs), 'num'],
    ], o.blocks.slice(0, 10))),
    h('p', { class: 'muted' }, `${t('chain_id')}: ${o.chain_id} · head ${o.head_hash}`));
}

export async function render(_arg, _params, ctx) {
  const first = build(await api('/console/overview'));
  const holder = h('div', {}, first);
  const timer = setInterval(async () => {
    if (!ctx.alive()) return;
    try {
      const o = await api('/console/overview');
      if (ctx.alive()) holder.replaceChildren(build(o));
    } catch { /* keep the last view; the next tick tries again */ }
  }, 3000);
  ctx.onLeave(() => clearInterval(timer));
  return holder;
}
