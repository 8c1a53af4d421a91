// The console shell: navigation, hash routing, language toggle, search.
import { t, toggleLang } from './i18n.js';
import { h, api, errorBox, chainStatus } from './lib.js';
import * as overview from './views/overview.js';
import * as chain from './views/chain.js';
import * as contracts from './views/contracts.js';
import * as people from './views/people.js';
import * as power from './views/power.js';
import * as live from './views/live.js';

const NAV = ['overview', 'blocks', 'contracts', 'members', 'governance', 'power', 'fl', 'sidechains', 'events'];
const ROUTES = {
  overview: overview.render, blocks: chain.blocks, block: chain.block, tx: chain.tx,
  address: chain.address, search: chain.search, contracts: contracts.list, contract: contracts.detail,
  members: people.members, governance: people.governance, sidechains: people.sidechains,
  fl: contracts.fl, power: power.render, events: live.render,
};
const main = document.getElementById('main');
let token = 0;
let cleanup = null;

function parse() {
  const raw = location.hash.replace(/^#\/?/, '') || 'overview';
  const [path, qs] = raw.split('?');
  const [name, ...rest] = path.split('/');
  return { name: ROUTES[name] ? name : 'overview', arg: rest.map(decodeURIComponent).join('/'),
    params: new URLSearchParams(qs || '') };
}

function shell() {
  const r = parse();
  const nav = document.getElementById('nav');
  const navOf = { block: 'blocks', tx: 'blocks', address: 'blocks', search: 'blocks', contract: 'contracts' };
  nav.replaceChildren(...NAV.map((n) => h('a', { href: `#/${n}`, 'data-nav': n,
    class: (navOf[r.name] || r.name) === n ? 'on' : null }, t(n))));
  document.getElementById('q').placeholder = t('search_ph');
  document.getElementById('go').textContent = t('search');
  document.getElementById('lang').textContent = t('lang');
  document.getElementById('foot').textContent = t('open_ui');
}

async function route() {
  const my = ++token;
  if (cleanup) { try { cleanup(); } catch { /* view already gone */ } cleanup = null; }
  shell();
  const r = parse();
  main.removeAttribute('data-ready');
  main.replaceChildren(h('div', { class: 'empty' }, t('loading')));
  const ctx = { alive: () => my === token, onLeave: (f) => { cleanup = f; } };
  let node;
  try {
    node = await ROUTES[r.name](r.arg, r.params, ctx);
  } catch (e) {
    node = errorBox(e);
  }
  if (my !== token) return;
  main.replaceChildren(node);
  main.setAttribute('data-ready', r.name);
}

document.getElementById('lang').addEventListener('click', () => { toggleLang(); route(); });
document.getElementById('search').addEventListener('submit', (ev) => {
  ev.preventDefault();
  const q = document.getElementById('q').value.trim();
  if (q) location.hash = `#/search/${encodeURIComponent(q)}`;
});
window.addEventListener('hashchange', route);
chainStatus().then((s) => {
  document.getElementById('chain').textContent = `${s.chain_id} · ${s.node}`;
}).catch(() => {});
route();
export { api };
