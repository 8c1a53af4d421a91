// The power business, from the contracts' views: bills, warnings and cuts, line loss and
// alarms per district, reconciliation differences. Which districts and dates exist is learned
// from the contracts' recent events (district_added, line_loss, alarm, reconciled).
import { t } from '../i18n.js';
import { h, api, query, section, table, kv, empty, badge, yuan, kwh, pct, showDate, link, errorBox } from '../lib.js';

const STATES = ['WARN', 'PENDING_CUT', 'CUT', 'RESTORE_PENDING'];
const LOSS_CLS = { QUALIFIED: 'ok', HIGH_LOSS: 'bad', NEGATIVE_LOSS: 'bad' };

const events = (contract, name, limit = 500) =>
  api(`/console/events?contract=${contract}&name=${name}&limit=${limit}&scan=5000`).then((d) => d.events);
const uniq = (xs) => [...new Set(xs)];

// bills per district for the month of the last line-loss evaluation: each district's meters
// (district.get_district), their customers (billing.get_meter) and bills (billing.get_bill)
async function billsByDistrict(ds, month) {
  return Promise.all(ds.map(async ({ d, info }) => {
    const meters = (info && info.meters) || [];
    const custs = await Promise.all(meters.map((m) => query('billing', 'get_meter', { meter: m })));
    const bills = await Promise.all(custs.map((c) => (c ? query('billing', 'get_bill', { customer: c.customer, month }) : null)));
    const row = { d, month, count: 0, energy: 0, amount: 0, peak: 0, valley: 0, flat: 0 };
    for (const b of bills) {
      if (!b) continue;
      row.count++; row.energy += b.energy; row.amount += b.amount;
      const it = b.items || {};
      row.peak += it.peak || 0; row.valley += it.valley || 0; row.flat += it.tier1 || 0;
    }
    return row;
  }));
}

async function billing(ds, month) {
  const [lists, notices] = await Promise.all([
    Promise.all(STATES.map((s) => query('billing', 'list_state', { state: s }))),
    events('billing', 'notice', 200)]);
  // the bills take two views per meter: the page shows at once and fills them in when done
  const billsSlot = h('div', { id: 'bills-slot' }, t('loading'));
  (month ? billsByDistrict(ds, month) : Promise.resolve([])).then((byDistrict) => {
    billsSlot.replaceChildren(byDistrict.length ? table([
      [t('district'), (r) => r.d], [t('count'), (r) => String(r.count), 'num'],
      [t('energy'), (r) => kwh(r.energy), 'num'], [t('amount'), (r) => yuan(r.amount), 'num'],
      [t('peak'), (r) => yuan(r.peak), 'num'], [t('valley'), (r) => yuan(r.valley), 'num'], [t('flat'), (r) => yuan(r.flat), 'num'],
    ], byDistrict, { id: 'bills' }) : empty(t('none')));
    billsSlot.setAttribute('data-loaded', '1');
  }).catch((e) => { billsSlot.replaceChildren(errorBox(e)); billsSlot.setAttribute('data-loaded', '1'); });
  const lookupOut = h('div', { id: 'customer-out' });
  const input = h('input', { id: 'customer-q', placeholder: 'D1-000' });
  const lookup = h('form', { class: 'inline', onsubmit: async (ev) => {
    ev.preventDefault();
    const cu = input.value.trim();
    lookupOut.replaceChildren(t('loading'));
    try {
      const c = await query('billing', 'get_customer', { customer: cu });
      if (!c) { lookupOut.replaceChildren(empty(t('not_found'))); return; }
      const bill = month ? await query('billing', 'get_bill', { customer: cu, month }) : null;
      lookupOut.replaceChildren(kv([[t('customer'), cu], [t('name'), c.name || ''], [t('state'), c.state],
        [t('balance'), yuan(c.balance)], bill ? [`${t('bills')} ${month}`, `${kwh(bill.energy)} kWh · ${yuan(bill.amount)}`] : null]));
    } catch (e) { lookupOut.replaceChildren(errorBox(e)); }
  } }, h('label', {}, t('lookup')), input, h('button', { type: 'submit' }, t('search')));
  return [
    section(`${t('bills')} ${month || ''}`, billsSlot, lookup, lookupOut),
    section(t('cost_control'), table([
      [t('state'), (r) => badge(r.state, r.state === 'CUT' ? 'bad' : 'warn')],
      [t('count'), (r) => String(r.rows.length), 'num'],
      [t('customer'), (r) => r.rows.map(([c]) => c).join(', ')],
    ], STATES.map((s, i) => ({ state: s, rows: lists[i] })), { id: 'cost-control' }),
    h('h3', {}, t('notices')),
    table([[t('kind'), (e) => e.fields.kind], [t('customer'), (e) => e.fields.customer],
      [t('balance'), (e) => yuan(e.fields.balance), 'num'], [t('block'), (e) => link(`#/tx/${e.tx_hash}`, String(e.height))]],
    notices.filter((e) => e.fields.kind !== 'payment').slice(0, 40), { id: 'notices' })),
  ];
}

async function districtRows() {
  const [added, losses] = await Promise.all([events('district', 'district_added'), events('district', 'line_loss')]);
  const ds = uniq(added.map((e) => e.fields.district)).sort();
  const latest = {};
  for (const e of losses) if (!(e.fields.district in latest)) latest[e.fields.district] = e.fields.date;
  return Promise.all(ds.map(async (d) => {
    const date = latest[d];
    const [info, loss, volt] = await Promise.all([query('district', 'get_district', { district: d }),
      date ? query('district', 'get_line_loss', { district: d, date }) : null,
      date ? query('district', 'district_voltage', { district: d, date }) : null]);
    return { d, date, info, loss, volt };
  }));
}

async function districts(rows) {
  const alarmEvents = await events('district', 'alarm');
  const pairs = uniq(alarmEvents.map((e) => `${e.fields.district}|${e.fields.date}`)).sort();
  const alarms = (await Promise.all(pairs.map(async (p) => {
    const [d, date] = p.split('|');
    const list = await query('district', 'get_alarms', { district: d, date: Number(date) });
    return list.map((a) => ({ ...a, district: d, date: Number(date) }));
  }))).flat();
  return [
    section(t('districts'), rows.length ? table([
      [t('district'), (r) => r.d], [t('name'), (r) => (r.info && r.info.name) || ''],
      [t('date'), (r) => (r.date ? showDate(r.date) : '')],
      [t('supply'), (r) => (r.loss ? kwh(r.loss.supply) : ''), 'num'],
      [t('sales'), (r) => (r.loss ? kwh(r.loss.sales) : ''), 'num'],
      [t('loss'), (r) => (r.loss ? pct(r.loss.loss_bp) : ''), 'num'],
      [t('status'), (r) => (r.loss ? badge(r.loss.status, LOSS_CLS[r.loss.status]) : '')],
      [t('voltage_pass'), (r) => (r.volt ? pct(r.volt.pass_bp) : ''), 'num'],
    ], rows, { id: 'districts' }) : empty(t('none'))),
    section(`${t('alarms')} (${alarms.length})`, alarms.length ? table([
      [t('district'), (a) => a.district], [t('date'), (a) => showDate(a.date)], [t('kind'), (a) => badge(a.kind, 'bad')],
      [t('subject'), (a) => a.subject], [t('detail'), (a) => String(a.detail)],
    ], alarms, { id: 'alarms' }) : empty(t('none'))),
  ];
}

async function reconciliation() {
  const done = await events('reconciliation', 'reconciled', 20);
  const dates = uniq(done.map((e) => e.fields.date));
  if (!dates.length) return [section(t('recon'), empty(t('none')))];
  const date = dates[0];
  const [summ, entries] = await Promise.all([query('reconciliation', 'get_summary', { date }),
    query('reconciliation', 'get_entries', { date, limit: 500 })]);
  const classes = Object.entries(summ.by_class).filter(([, s]) => s.entries);
  return [section(`${t('recon')} ${showDate(date)}`,
    table([[t('class'), ([c]) => badge(c, c === 'MATCHED' ? 'ok' : c === 'IN_TRANSIT' ? '' : 'bad')],
      [t('entries'), ([, s]) => String(s.entries), 'num'], [t('records'), ([, s]) => String(s.records), 'num'],
      [t('amount'), ([, s]) => yuan(s.amount), 'num']], classes, { id: 'recon-summary' }),
    table([[t('serial'), (e) => e.serial], [t('class'), (e) => e.class], [t('amount'), (e) => yuan(e.amount), 'num'],
      [t('diff'), (e) => (e.diff ? yuan(e.diff) : ''), 'num']],
    entries.filter((e) => e.class !== 'MATCHED'), { id: 'recon-diffs' }))];
}

export async function render() {
  const d = await api('/console/contracts');
  const have = new Set(d.contracts.map((c) => c.name));
  if (!have.has('billing') && !have.has('district') && !have.has('reconciliation')) {
    return h('div', { 'data-view': 'power' }, h('h1', {}, t('power')), section(null, empty(t('no_power'), { id: 'power-empty' })));
  }
  const rows = have.has('district') ? await districtRows() : [];
  const dates = rows.map((r) => r.date).filter(Boolean);
  const month = dates.length ? Math.floor(Math.max(...dates) / 100) : null;
  const parts = await Promise.all([
    have.has('billing') ? billing(rows, month) : [], have.has('district') ? districts(rows) : [],
    have.has('reconciliation') ? reconciliation() : []]);
  return h('div', { 'data-view': 'power' }, h('h1', {}, t('power')), parts.flat());
}
