// The review page of clusterclass: keyboard-first labelling of candidates.
// Plain JavaScript, no libraries, nothing fetched from anywhere but this server.
//
// Hooks for tests and benchmarks: <main id="review"> carries data-row (the
// candidate's catalog row), data-index (its place in the queue), data-label
// (this reviewer's label of it), data-loaded ("true" once its stamps, details
// and profile are shown), data-pending (actions not finished yet) and
// data-saved (the label_id of the last label the server acknowledged);
// window.reviewReady is a Promise resolved (with the row) when the candidate
// being opened is fully shown; window.reviewAcknowledged lists every label and
// undo the server acknowledged to this page ({label_id, row, label, subclass,
// reviewer}; label null for an undo that cleared it).
'use strict';

(function () {
  const SUBCLASS_KEYS = {'1': '4.1', '2': '4.2', '3': '4.3', '4': '4.4', '5': '4.5',
                         '6': '4.6', '7': '4.7', '8': '4.8', '9': '4.9', '0': '4.10',
                         '-': '4.11', '=': '4.12'};
  const KEY_OF_SUBCLASS = Object.fromEntries(Object.entries(SUBCLASS_KEYS).map(([k, v]) => [v, k]));
  const params = new URLSearchParams(location.search);
  const token = params.get('token');
  const main = document.getElementById('review');
  const $ = (id) => document.getElementById(id);

  const state = {
    session: null, queue: [], labels: {}, index: -1, row: null, stretch: 'asinh',
    reviewer: '', pending: 0, subclassMode: false, cache: new Map(), profiles: new Map(),
    images: new Map(), shown: 0, readyWaiters: [], queueOptions: {},
  };

  // -- the server --------------------------------------------------------

  async function api(path, options) {
    const opts = {credentials: 'same-origin', headers: {}, cache: 'no-store'};
    if (token) opts.headers.Authorization = 'token ' + token;
    if (options && options.body !== undefined) {
      opts.method = 'POST';
      opts.headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(options.body);
    }
    const response = await fetch(path, opts);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok) {
      const message = data && data.error ? data.error : response.status + ' ' + response.statusText;
      throw new Error(message);
    }
    return data;
  }

  function stampUrl(row, band) {
    return '/stamp/' + row + '/' + encodeURIComponent(band) + '.png?stretch=' +
      encodeURIComponent(state.stretch);
  }

  function reviewerQuery() {
    return 'reviewer=' + encodeURIComponent(state.reviewer);
  }

  // -- status and small helpers --------------------------------------------

  function setStatus(text, kind) {
    const el = $('status');
    el.textContent = text;
    el.className = kind || '';
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v; else node.setAttribute(k, v);
    }
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function fmt(value) {
    if (value === null || value === undefined) return '–';
    if (typeof value === 'number') {
      if (Number.isInteger(value)) return String(value);
      if (Math.abs(value) < 0.001 && value !== 0) return value.toExponential(1);
      return Math.abs(value) >= 1000 ? value.toPrecision(4) : value.toFixed(3);
    }
    if (Array.isArray(value)) return value.map(fmt).join(', ');
    if (typeof value === 'object') return Object.entries(value).map(([k, v]) => k + ' ' + fmt(v)).join('; ');
    return String(value);
  }

  function labelText(record) {
    if (!record || record.label === null || record.label === undefined) return '';
    return record.subclass ? record.subclass : String(record.label);
  }

  // Actions (keys, buttons) run one after the other: no keystroke is lost and
  // each label is saved before the next action starts.
  let chain = Promise.resolve();
  function enqueue(action) {
    state.pending += 1;
    main.dataset.pending = String(state.pending);
    chain = chain.then(action).catch((err) => setStatus('error: ' + err.message, 'error'))
      .finally(() => {
        state.pending -= 1;
        main.dataset.pending = String(state.pending);
      });
    return chain;
  }

  // -- the queue -------------------------------------------------------------

  function readHash() {
    const out = {};
    new URLSearchParams(location.hash.slice(1)).forEach((v, k) => { out[k] = v; });
    return out;
  }

  function writeHash() {
    const h = new URLSearchParams();
    for (const [k, v] of Object.entries(state.queueOptions)) if (v !== '' && v !== null) h.set(k, v);
    if (state.row !== null) h.set('row', state.row);
    h.set('stretch', state.stretch);
    history.replaceState(null, '', location.pathname + location.search + '#' + h.toString());
  }

  function optionsFromForm() {
    const o = {order: $('q-order').value};
    if (o.order === 'disagreement') o.columns = $('q-col-a').value + ',' + $('q-col-b').value;
    if (o.order === 'random') o.seed = $('q-seed').value || '0';
    if ($('q-unreviewed').checked) o.unreviewed = '1';
    if ($('q-only-class').value) {
      o.only_class = $('q-only-class').value;
      if ($('q-class-column').value) o.class_column = $('q-class-column').value;
    }
    const lo = $('q-mag-min').value, hi = $('q-mag-max').value;
    if (lo !== '' || hi !== '') {
      o.mag_range = lo + ',' + hi;
      if ($('q-mag-column').value) o.mag_column = $('q-mag-column').value;
    }
    const box = ['q-xmin', 'q-xmax', 'q-ymin', 'q-ymax'].map((id) => $(id).value);
    if (box.every((v) => v !== '')) o.region = box.join(',');
    return o;
  }

  function formFromOptions(o) {
    $('q-order').value = o.order || 'doubtful';
    if (o.columns) {
      const [a, b] = String(o.columns).split(',');
      $('q-col-a').value = a; $('q-col-b').value = b;
    }
    $('q-seed').value = o.seed !== undefined ? o.seed : 0;
    $('q-unreviewed').checked = ['1', 'true', true].includes(o.unreviewed);
    $('q-only-class').value = o.only_class || '';
    if (o.class_column) $('q-class-column').value = o.class_column;
    const range = o.mag_range ? String(o.mag_range).split(',') : ['', ''];
    $('q-mag-min').value = range[0] === 'null' ? '' : range[0];
    $('q-mag-max').value = range[1] === 'null' ? '' : range[1];
    if (o.mag_column) $('q-mag-column').value = o.mag_column;
    const box = o.region ? String(o.region).split(',') : ['', '', '', ''];
    ['q-xmin', 'q-xmax', 'q-ymin', 'q-ymax'].forEach((id, i) => { $(id).value = box[i] || ''; });
    showQueueFields();
  }

  function showQueueFields() {
    const order = $('q-order').value;
    document.querySelector('.q-disagreement').hidden = order !== 'disagreement';
    document.querySelector('.q-random').hidden = order !== 'random';
  }

  async function loadQueue(options, keepRow) {
    const q = new URLSearchParams(options);
    q.set('reviewer', state.reviewer);
    const result = await api('/api/queue?' + q.toString());
    state.queueOptions = options;
    state.queue = result.rows;
    state.labels = result.labels;
    state.cache.clear();
    let index = keepRow !== undefined && keepRow !== null ? state.queue.indexOf(Number(keepRow)) : 0;
    if (index < 0) index = 0;
    if (!state.queue.length) {
      state.index = -1; state.row = null;
      main.dataset.row = ''; main.dataset.index = ''; main.dataset.loaded = 'true';
      setStatus('the queue is empty', 'error');
      renderStrip();
      resolveReady(null);
      return;
    }
    await show(index);
  }

  // -- one candidate -----------------------------------------------------------

  function candidateData(row) {
    if (!state.cache.has(row)) {
      const promise = api('/api/candidate/' + row + '?' + reviewerQuery());
      promise.catch(() => state.cache.delete(row));
      state.cache.set(row, promise);
    }
    return state.cache.get(row);
  }

  function profileData(row) {
    if (!state.profiles.has(row)) {
      const promise = api('/api/profile/' + row);
      promise.catch(() => state.profiles.delete(row));
      state.profiles.set(row, promise);
    }
    return state.profiles.get(row);
  }

  function imageLoaded(img) {
    if (img.complete && img.naturalWidth) return Promise.resolve();
    return new Promise((resolve) => {
      img.addEventListener('load', resolve, {once: true});
      img.addEventListener('error', resolve, {once: true});
    });
  }

  // Keep the next candidates' pictures and data warm, so "next" is quick.
  function prefetch(index) {
    for (const i of [index + 1, index + 2]) {
      if (i < 0 || i >= state.queue.length) continue;
      const row = state.queue[i];
      candidateData(row);
      profileData(row);
      for (const band of [...state.session.bands, 'color']) {
        const url = stampUrl(row, band);
        if (!state.images.has(url)) {
          const img = new Image();
          img.src = url;
          state.images.set(url, img);
        }
      }
    }
    if (state.images.size > 400) {
      const keys = [...state.images.keys()].slice(0, state.images.size - 400);
      keys.forEach((k) => state.images.delete(k));
    }
  }

  function resolveReady(row) {
    const waiters = state.readyWaiters;
    state.readyWaiters = [];
    waiters.forEach((resolve) => resolve(row));
  }

  function newReady() {
    window.reviewReady = new Promise((resolve) => state.readyWaiters.push(resolve));
  }

  async function show(index, options) {
    const fresh = options && options.fresh;
    index = Math.max(0, Math.min(index, state.queue.length - 1));
    const row = state.queue[index];
    const ticket = ++state.shown;
    newReady();
    main.dataset.loaded = 'false';
    state.index = index;
    state.row = row;
    main.dataset.row = String(row);
    main.dataset.index = String(index);
    if (fresh) state.cache.delete(row);
    writeHash();
    const loads = [];
    for (const band of [...state.session.bands, 'color']) {
      const img = document.querySelector('#stamps img[data-band="' + band + '"]');
      const url = stampUrl(row, band);
      if (img.getAttribute('src') !== url) img.src = url;
      loads.push(imageLoaded(img));
    }
    const [data, profile] = await Promise.all([candidateData(row), profileData(row)]);
    state.cache.delete(row);  // shown once; a later visit asks again (labels change)
    if (ticket !== state.shown) return;
    renderCandidate(data);
    renderProfile(profile);
    renderStrip();
    await Promise.all(loads);
    if (ticket !== state.shown) return;
    main.dataset.loaded = 'true';
    resolveReady(row);
    prefetch(index);
  }

  function renderCandidate(data) {
    const mine = labelText(data.label);
    main.dataset.label = mine;
    $('your-label').textContent = mine || '–';
    if (mine) state.labels[data.row] = mine; else delete state.labels[data.row];
    $('cand-title').textContent = 'id ' + data.candidate + ' · row ' + data.row;
    for (const b of document.querySelectorAll('#class-buttons button, #subclass-buttons button')) {
      b.classList.toggle('chosen', b.dataset.value === mine ||
        (mine.startsWith('4.') && b.dataset.value === '4'));
    }
    const details = Object.assign({}, data.details || {});
    const machine = details.machine;
    delete details.machine;
    renderDetails(details);
    renderMachine(machine, details);
    const others = $('others');
    others.replaceChildren();
    for (const r of data.others || []) {
      others.append(el('li', {}, r.reviewer + ': ' + labelText(r) + (r.comment ? ' — ' + r.comment : '')));
    }
    if (!(data.others || []).length) {
      others.append(el('li', {class: 'none'}, state.session.blind
        ? 'hidden in blind mode (' + data.n_reviews + ' review(s))' : 'none'));
    }
    const history = $('history');
    history.replaceChildren();
    for (const r of (data.history || []).slice().reverse().slice(0, 20)) {
      const what = r.label === null || r.label === undefined ? 'cleared' : labelText(r);
      history.append(el('li', {}, r.time + ' ' + r.reviewer + ': ' + what +
        (r.comment ? ' — ' + r.comment : '')));
    }
  }

  function flatten(value, prefix, out) {
    if (value && typeof value === 'object' && !Array.isArray(value)) {
      for (const [k, v] of Object.entries(value)) flatten(v, prefix ? prefix + ' ' + k : k, out);
    } else {
      out.push([prefix, value]);
    }
    return out;
  }

  // Shown in this order; the drawing parameters (scale bar, zoom...) are left out.
  const DETAIL_SKIP = new Set(['row', 'machine', 'scale_bar', 'size', 'zoom', 'color_bands',
    'filters', 'blind', 'on_image', 'magnitude_errors', 'neighbors', 'catalog_classes']);

  function renderDetails(details) {
    const table = $('details');
    table.replaceChildren();
    const add = (key, value) => {
      const tr = el('tr');
      tr.append(el('th', {}, key), el('td', {}, value));
      table.append(tr);
    };
    const mags = details.magnitudes || {};
    const errors = details.magnitude_errors || {};
    for (const [key, value] of Object.entries(details)) {
      if (DETAIL_SKIP.has(key)) continue;
      if (key === 'magnitudes') {
        for (const [band, m] of Object.entries(mags)) {
          add('mag ' + band, fmt(m) + (errors[band] !== undefined && errors[band] !== null
            ? ' ± ' + fmt(errors[band]) : ''));
        }
      } else if (key === 'colors') {
        for (const [name, c] of Object.entries(value || {})) add(name, fmt(c));
      } else if (key === 'ci') {
        add('CI', fmt(value));
      } else {
        for (const [k, v] of flatten(value, key, [])) add(k, fmt(v));
      }
    }
    const neighbors = details.neighbors || [];
    add('neighbours (5 px)', neighbors.length ? neighbors.map((n) => 'id ' + n.id + ' (' +
      fmt(n.dx) + ', ' + fmt(n.dy) + ')').join('; ') : 'none');
    for (const [k, v] of flatten(details.catalog_classes || {}, '', [])) add(k, fmt(v));
  }

  function renderMachine(machine, details) {
    const panel = $('machine-panel');
    const box = $('machine');
    box.replaceChildren();
    if (state.session.blind || !machine) {
      panel.hidden = !state.session.blind;
      if (state.session.blind) box.append(el('p', {class: 'none'}, 'hidden (blind mode)'));
      return;
    }
    panel.hidden = false;
    const probs = machine.probabilities || machine.prob || null;
    const rest = Object.assign({}, machine);
    delete rest.probabilities; delete rest.prob; delete rest.columns;
    const table = el('table');
    for (const [key, value] of flatten(rest, '', [])) {
      const tr = el('tr');
      tr.append(el('th', {}, key), el('td', {}, fmt(value)));
      table.append(tr);
    }
    box.append(table);
    if (probs && typeof probs === 'object') {
      const bars = el('div', {class: 'probs'});
      for (const [k, v] of Object.entries(probs)) {
        const line = el('div', {class: 'prob'});
        const bar = el('span', {class: 'bar c' + String(k).replace(/\D/g, '')});
        bar.style.width = Math.round(100 * (Number(v) || 0)) + '%';
        line.append(el('span', {class: 'k'}, String(k)), el('span', {class: 'track'}), el('span', {class: 'v'}, fmt(v)));
        line.children[1].append(bar);
        bars.append(line);
      }
      box.append(bars);
    }
  }

  // The radial profile: candidate against the PSF (or a star), as inline SVG.
  function renderProfile(profile) {
    const svg = $('profile');
    const legend = $('profile-legend');
    svg.replaceChildren();
    legend.replaceChildren();
    const ns = 'http://www.w3.org/2000/svg';
    const W = 320, H = 200, L = 40, R = 10, T = 10, B = 30;
    const series = profileSeries(profile);
    if (!series.length) {
      legend.textContent = 'no profile';
      return;
    }
    let xmax = 0, ymax = 0, ymin = 0;
    for (const s of series) {
      s.points.forEach(([x, y]) => { xmax = Math.max(xmax, x); ymax = Math.max(ymax, y); ymin = Math.min(ymin, y); });
    }
    xmax = xmax || 1; ymax = ymax || 1;
    const sx = (x) => L + (W - L - R) * x / xmax;
    const sy = (y) => T + (H - T - B) * (1 - (y - ymin) / (ymax - ymin || 1));
    const line = (x1, y1, x2, y2, cls) => {
      const n = document.createElementNS(ns, 'line');
      Object.entries({x1, y1, x2, y2}).forEach(([k, v]) => n.setAttribute(k, v));
      n.setAttribute('class', cls);
      svg.append(n);
    };
    const text = (x, y, t, anchor) => {
      const n = document.createElementNS(ns, 'text');
      n.setAttribute('x', x); n.setAttribute('y', y);
      n.setAttribute('text-anchor', anchor || 'middle');
      n.textContent = t;
      svg.append(n);
    };
    line(L, H - B, W - R, H - B, 'axis');
    line(L, T, L, H - B, 'axis');
    for (let i = 0; i <= 4; i++) {
      const x = xmax * i / 4;
      text(sx(x), H - B + 14, x.toFixed(1));
      const y = ymin + (ymax - ymin) * i / 4;
      text(L - 4, sy(y) + 4, y.toFixed(2), 'end');
    }
    text((L + W - R) / 2, H - 2, profile.radius_unit ? 'radius (' + profile.radius_unit + ')' : 'radius (px)');
    series.forEach((s, i) => {
      if (s.dots) {
        const g = document.createElementNS(ns, 'g');
        g.setAttribute('class', 'dots');
        for (const [x, y] of s.points) {
          const c = document.createElementNS(ns, 'circle');
          c.setAttribute('cx', sx(x).toFixed(1)); c.setAttribute('cy', sy(y).toFixed(1));
          c.setAttribute('r', '1.2');
          g.append(c);
        }
        svg.prepend(g);
        legend.append(el('span', {class: 'key dots'}, s.name));
        return;
      }
      const path = document.createElementNS(ns, 'polyline');
      path.setAttribute('points', s.points.map(([x, y]) => sx(x).toFixed(1) + ',' + sy(y).toFixed(1)).join(' '));
      path.setAttribute('class', 'series s' + i);
      svg.append(path);
      legend.append(el('span', {class: 'key s' + i, title: s.title || ''}, s.name));
    });
  }

  // The renderer's profile: radius/profile of the candidate, the pixels
  // themselves (dots) and reference.radius/profile (the PSF or a star's).
  function profileSeries(profile) {
    if (!profile || !Array.isArray(profile.radius)) return [];
    const pairs = (xs, ys) => {
      const points = [];
      for (let i = 0; i < Math.min(xs.length, ys.length); i++) {
        if (typeof xs[i] === 'number' && typeof ys[i] === 'number') points.push([xs[i], ys[i]]);
      }
      return points;
    };
    const out = [];
    if (Array.isArray(profile.profile)) {
      out.push({name: 'candidate' + (profile.fwhm ? ' (FWHM ' + fmt(profile.fwhm) + ' px)' : ''),
                points: pairs(profile.radius, profile.profile)});
    }
    const ref = profile.reference;
    if (ref && Array.isArray(ref.radius) && Array.isArray(ref.profile)) {
      out.push({name: (ref.kind === 'psf' ? 'PSF' : ref.kind || 'reference') +
                (ref.fwhm ? ' (FWHM ' + fmt(ref.fwhm) + ' px)' : ''),
                points: pairs(ref.radius, ref.profile), title: ref.description});
    }
    const px = profile.pixels;
    if (px && Array.isArray(px.radius) && Array.isArray(px.value)) {
      out.push({name: 'pixels', points: pairs(px.radius, px.value), dots: true});
    }
    return out.filter((s) => s.points.length);
  }

  // The queue around the current candidate, with this reviewer's labels.
  function renderStrip() {
    const strip = $('strip');
    strip.replaceChildren();
    const n = state.queue.length;
    const labelled = state.queue.filter((r) => state.labels[r] !== undefined).length;
    $('progress').textContent = n
      ? (state.index + 1) + ' of ' + n + ' in the queue · ' + labelled + ' labelled by you'
      : 'empty queue';
    const start = Math.max(0, state.index - 12);
    for (let i = start; i < Math.min(n, start + 25); i++) {
      const row = state.queue[i];
      const label = state.labels[row];
      const chip = el('button', {type: 'button', class: 'chip' + (i === state.index ? ' current' : '') +
        (label ? ' c' + label.split('.')[0] : ''), 'data-row': row, 'data-label': label || '',
        title: 'row ' + row + (label ? ': ' + label : '')}, label || '·');
      chip.addEventListener('click', () => enqueue(() => show(i)));
      strip.append(chip);
    }
  }

  // -- actions -------------------------------------------------------------------

  async function saveLabel(label, subclass) {
    if (state.row === null) return;
    if (!state.reviewer) {
      setStatus('enter your name as reviewer first', 'error');
      $('reviewer').focus();
      return;
    }
    const row = state.row;
    const body = {row, label, subclass: subclass || null, comment: $('comment').value,
                  reviewer: state.reviewer};
    setStatus('saving ' + (subclass || label) + '…', 'saving');
    const result = await api('/api/label', {body});
    // Acknowledged: the server committed the label.
    window.reviewAcknowledged.push({label_id: result.label.label_id, row, label: result.label.label,
                                    subclass: result.label.subclass, reviewer: result.label.reviewer});
    state.labels[row] = labelText(result.label);
    main.dataset.saved = String(result.label.label_id);
    $('comment').value = '';
    setStatus('saved: row ' + row + ' → ' + labelText(result.label), 'ok');
    if ($('advance').checked && state.index < state.queue.length - 1) {
      await show(state.index + 1);
    } else {
      await show(state.index, {fresh: true});
    }
  }

  async function undo() {
    const result = await api('/api/undo', {body: {reviewer: state.reviewer}});
    if (!result.undone) {
      setStatus('nothing to undo', 'error');
      return;
    }
    const row = result.row;
    const text = labelText(result.label);
    window.reviewAcknowledged.push({label_id: result.label.label_id, row, label: result.label.label,
                                    subclass: result.label.subclass, reviewer: result.label.reviewer});
    if (text) state.labels[row] = text; else delete state.labels[row];
    main.dataset.saved = String(result.label.label_id);
    setStatus('undone: row ' + row + (text ? ' is ' + text + ' again' : ' has no label'), 'ok');
    const index = state.queue.indexOf(row);
    await show(index >= 0 ? index : state.index, {fresh: true});
  }

  function move(step) {
    if (!state.queue.length) return Promise.resolve();
    const index = state.index + step;
    if (index < 0 || index >= state.queue.length) {
      setStatus(index < 0 ? 'first candidate of the queue' : 'end of the queue', 'error');
      return Promise.resolve();
    }
    return show(index);
  }

  function cycleStretch() {
    const list = state.session.stretches;
    state.stretch = list[(list.indexOf(state.stretch) + 1) % list.length];
    $('stretch').value = state.stretch;
    return show(state.index);
  }

  function setSubclassMode(on) {
    state.subclassMode = on;
    $('subclass-buttons').classList.toggle('active', on);
    if (on) setStatus('class 4: press 1–9, 0, -, = for the subclass, Enter for none, Esc to cancel', 'saving');
  }

  function onKey(event) {
    const target = event.target;
    const typing = target && (target.tagName === 'INPUT' || target.tagName === 'TEXTAREA' ||
      target.tagName === 'SELECT');
    if (typing) {
      if (target.id === 'comment' && event.key === 'Escape') target.blur();
      if (target.id === 'comment' && event.key === 'Enter' && !event.shiftKey) {
        event.preventDefault();
        target.blur();
        const mine = state.labels[state.row];
        if (mine) {
          const [label, sub] = mine.includes('.') ? [4, mine] : [Number(mine), null];
          enqueue(() => saveLabel(label, sub));
        } else {
          setStatus('comment kept: it is saved with your label', 'saving');
        }
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const key = event.key;
    if (!$('help').hidden) {
      if (key === 'Escape' || key === '?') { $('help').hidden = true; event.preventDefault(); }
      return;
    }
    if (state.subclassMode) {
      event.preventDefault();
      if (key in SUBCLASS_KEYS) { setSubclassMode(false); enqueue(() => saveLabel(4, SUBCLASS_KEYS[key])); }
      else if (key === 'Enter' || key === '4') { setSubclassMode(false); enqueue(() => saveLabel(4, null)); }
      else { setSubclassMode(false); setStatus('class 4 cancelled', ''); }
      return;
    }
    let handled = true;
    if (key === '1' || key === '2' || key === '3') enqueue(() => saveLabel(Number(key), null));
    else if (key === '4') setSubclassMode(true);
    else if (key === 'u' || key === 'Backspace') enqueue(undo);
    else if (key === 'j' || key === 'ArrowRight') enqueue(() => move(1));
    else if (key === 'k' || key === 'ArrowLeft') enqueue(() => move(-1));
    else if (key === 's') enqueue(() => move(1));
    else if (key === 'c') $('comment').focus();
    else if (key === 't') enqueue(cycleStretch);
    else if (key === '?') $('help').hidden = false;
    else handled = false;
    if (handled) event.preventDefault();
  }

  // -- agreement -------------------------------------------------------------------

  function matrix(values, classes, caption) {
    const table = el('table', {class: 'matrix'});
    table.append(el('caption', {}, caption));
    const head = el('tr');
    head.append(el('th'));
    classes.forEach((k) => head.append(el('th', {}, String(k))));
    table.append(head);
    values.forEach((rowValues, i) => {
      const tr = el('tr');
      tr.append(el('th', {}, String(classes[i])));
      rowValues.forEach((v) => tr.append(el('td', {}, fmt(v))));
      table.append(tr);
    });
    return table;
  }

  // Agreement fractions of each pair of reviewers, and of the consensus
  // against the machine, then their confusion matrices (rows: the first).
  function renderAgreement(agreement) {
    const box = el('div');
    const classes = agreement.classes || [1, 2, 3, 4];
    const keys = [...classes.map(String), 'mean', '1+2'];
    const pairs = (agreement.pairs || []).map((p) => [p.reviewer_a + ' vs ' + p.reviewer_b, p]);
    if (agreement.machine) pairs.push(['consensus vs ' + agreement.machine.column, agreement.machine]);
    if (!pairs.length) {
      box.append(el('p', {class: 'none'}, 'no two reviewers have labelled the same candidates yet'));
      return box;
    }
    const table = el('table', {class: 'fractions'});
    const head = el('tr');
    ['', 'common', ...keys.map((k) => 'f ' + k)].forEach((t) => head.append(el('th', {}, t)));
    table.append(head);
    for (const [name, p] of pairs) {
      const tr = el('tr');
      tr.append(el('th', {}, name), el('td', {}, fmt(p.n_common)));
      for (const k of keys) {
        const f = p.fractions ? p.fractions[k] : null;
        const e = p.fraction_errors ? p.fraction_errors[k] : null;
        tr.append(el('td', {}, fmt(f) + (e !== null && e !== undefined ? ' ± ' + fmt(e) : '')));
      }
      table.append(tr);
    }
    box.append(table);
    if (agreement.inter_reviewer_mean !== null && agreement.inter_reviewer_mean !== undefined) {
      box.append(el('p', {}, 'mean inter-reviewer agreement: ' + fmt(agreement.inter_reviewer_mean)));
    }
    const grid = el('div', {class: 'matrices'});
    for (const [name, p] of pairs) {
      if (Array.isArray(p.confusion)) grid.append(matrix(p.confusion, classes, name));
    }
    box.append(grid);
    return box;
  }

  async function showAgreement() {
    const data = await api('/api/agreement');
    const box = $('agreement');
    box.replaceChildren();
    box.append(el('p', {}, data.n_labelled + ' of ' + data.n_rows + ' candidates labelled; ' +
      data.n_ties + ' tie(s); reviewers: ' + (data.reviewers.join(', ') || 'none')));
    box.append(renderAgreement(data.agreement || {}));
  }

  // -- start ---------------------------------------------------------------------------

  function buildControls(session) {
    const stamps = $('stamps');
    for (const band of [...session.bands, 'color']) {
      const fig = el('figure');
      const img = el('img', {'data-band': band, alt: band + ' stamp', width: '150', height: '150'});
      fig.append(img, el('figcaption', {}, band === 'color' ? 'colour composite' : band));
      stamps.append(fig);
    }
    for (const s of session.stretches) $('stretch').append(el('option', {value: s}, s));
    for (const o of session.orders) $('q-order').append(el('option', {value: o}, o));
    for (const c of session.class_columns) {
      $('q-col-a').append(el('option', {value: c}, c));
      $('q-col-b').append(el('option', {value: c}, c));
      $('q-class-column').append(el('option', {value: c}, c));
    }
    $('q-mag-column').append(el('option', {value: ''}, 'V band'));
    for (const c of session.mag_columns) $('q-mag-column').append(el('option', {value: c}, c));
    if (session.blind) {
      document.querySelector('.q-machine').hidden = true;
      [...$('q-order').options].filter((o) => o.value === 'disagreement').forEach((o) => o.remove());
      $('mode').textContent = 'blind mode';
    }
    const classes = $('class-buttons');
    for (const [k, name] of Object.entries(session.classes)) {
      const b = el('button', {type: 'button', 'data-value': k, title: name + ' (' + k + ')'},
        k + ' ' + name);
      b.addEventListener('click', () => {
        if (k === '4') setSubclassMode(!state.subclassMode);
        else enqueue(() => saveLabel(Number(k), null));
      });
      classes.append(b);
    }
    const subs = $('subclass-buttons');
    const help = $('help-subclasses');
    const plain = el('button', {type: 'button', 'data-value': '4', title: 'class 4, no subclass (4, Enter)'}, '4 (none)');
    plain.addEventListener('click', () => { setSubclassMode(false); enqueue(() => saveLabel(4, null)); });
    subs.append(plain);
    const list = el('div', {class: 'keys'});
    for (const [code, name] of Object.entries(session.subclasses)) {
      const b = el('button', {type: 'button', 'data-value': code, title: name + ' (4 then ' + KEY_OF_SUBCLASS[code] + ')'},
        code + ' ' + name);
      b.addEventListener('click', () => { setSubclassMode(false); enqueue(() => saveLabel(4, code)); });
      subs.append(b);
      list.append(el('kbd', {}, '4 ' + KEY_OF_SUBCLASS[code]), el('span', {}, code + ' ' + name));
    }
    help.append(list);
    $('prev').addEventListener('click', () => enqueue(() => move(-1)));
    $('next').addEventListener('click', () => enqueue(() => move(1)));
    $('skip').addEventListener('click', () => enqueue(() => move(1)));
    $('undo').addEventListener('click', () => enqueue(undo));
    $('stretch').addEventListener('change', () => {
      state.stretch = $('stretch').value;
      enqueue(() => show(state.index));
    });
    $('q-order').addEventListener('change', showQueueFields);
    $('queue-form').addEventListener('submit', (event) => {
      event.preventDefault();
      enqueue(() => loadQueue(optionsFromForm()));
    });
    $('help-button').addEventListener('click', () => { $('help').hidden = !$('help').hidden; });
    $('help').addEventListener('click', (event) => { if (event.target === $('help')) $('help').hidden = true; });
    $('agreement-button').addEventListener('click', () => enqueue(showAgreement));
    $('reviewer').addEventListener('change', () => {
      state.reviewer = $('reviewer').value.trim();
      try { localStorage.setItem('clusterclass-reviewer', state.reviewer); } catch (e) { /* private mode */ }
      enqueue(() => loadQueue(state.queueOptions, state.row));
    });
    document.addEventListener('keydown', onKey);
  }

  async function start() {
    window.reviewAcknowledged = [];
    newReady();
    const session = await api('/api/session');
    state.session = session;
    let stored = null;
    try { stored = localStorage.getItem('clusterclass-reviewer'); } catch (e) { stored = null; }
    state.reviewer = params.get('reviewer') || stored || session.reviewer || '';
    $('reviewer').value = state.reviewer;
    buildControls(session);
    const hash = readHash();
    if (hash.stretch && session.stretches.includes(hash.stretch)) state.stretch = hash.stretch;
    $('stretch').value = state.stretch;
    const options = Object.assign({}, session.queue);
    if (options.columns && Array.isArray(options.columns)) options.columns = options.columns.join(',');
    if (options.mag_range && Array.isArray(options.mag_range)) options.mag_range = options.mag_range.map((v) => v === null ? '' : v).join(',');
    if (options.region && Array.isArray(options.region)) options.region = options.region.join(',');
    for (const k of ['order', 'columns', 'seed', 'unreviewed', 'only_class', 'class_column',
                     'mag_range', 'mag_column', 'region']) {
      if (hash[k] !== undefined) options[k] = hash[k];
    }
    for (const k of Object.keys(options)) if (options[k] === null || options[k] === false) delete options[k];
    if (options.unreviewed === true) options.unreviewed = '1';
    formFromOptions(options);
    await enqueue(() => loadQueue(options, hash.row));
  }

  start().catch((err) => setStatus('error: ' + err.message, 'error'));
})();
