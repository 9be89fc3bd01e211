/* global document, fetch, location, window, EventSource, setTimeout, clearTimeout, setInterval */
// The build view: the list of builds, and for the selected one its graph, timeline, cache-miss
// explanations and logs, kept current by server-sent events while builds run.
import { renderGraph } from './dag.js';
import { duration, h, stateLabels, stepDuration } from './dom.js';
import { renderTimeline } from './timeline.js';

const state = {
  builds: [],
  ref: undefined,
  view: undefined,
  fetchedAt: 0,
  step: undefined,
};

const buildsPane = document.getElementById('builds');
const buildPane = document.getElementById('build');
const live = document.getElementById('live');

async function getJson(path) {
  const response = await fetch(path, { headers: { accept: 'application/json' } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ?? `${path}: ${response.status}`);
  return body;
}

/** `#/builds/<ref>/<digest>` */
function readLocation() {
  const [, kind, ref, digest] = location.hash.split('/');
  return kind === 'builds'
    ? { ref: ref || undefined, step: digest ? decodeURIComponent(digest) : undefined }
    : {};
}

function buildEnd() {
  const view = state.view;
  if (!view) return 0;
  return view.state === 'running' ? view.end + (Date.now() - state.fetchedAt) : view.end;
}

function ago(ms) {
  const secs = Math.round((Date.now() - ms) / 1000);
  if (secs < 60) return `${secs}s ago`;
  if (secs < 3600) return `${Math.round(secs / 60)}m ago`;
  if (secs < 86400) return `${Math.round(secs / 3600)}h ago`;
  return new Date(ms).toLocaleString();
}

function renderList() {
  if (state.builds.length === 0) {
    buildsPane.replaceChildren(h('p', { class: 'muted' }, 'No builds yet.'));
    return;
  }
  buildsPane.replaceChildren(
    h(
      'ul',
      {},
      state.builds.map((b) =>
        h(
          'li',
          { class: b.ref === state.ref ? 'current' : '' },
          h(
            'a',
            { href: `#/builds/${encodeURIComponent(b.ref)}`, dataset: { ref: b.ref, state: b.state } },
            h('span', { class: `dot ${b.state}`, title: b.state }),
            h('span', { class: 'ref' }, b.ref.slice(0, 12)),
            h('span', { class: 'what' }, b.target ?? b.frontend ?? 'LLB'),
            h(
              'span',
              { class: 'when' },
              `${ago(b.createdAt)} · ${b.completedAt ? duration(b.completedAt - b.createdAt) : 'running'} · ${b.numSteps} steps, ${b.numCached} cached`,
            ),
          ),
        ),
      ),
    ),
  );
}

function legend() {
  return h(
    'ul',
    { class: 'legend' },
    ['cached', 'done', 'failed', 'running', 'waiting'].map((s) =>
      h('li', {}, h('span', { class: `swatch ${s}` }), stateLabels[s]),
    ),
    h('li', {}, h('span', { class: 'swatch critical' }), 'critical path'),
  );
}

// Terminal colour and cursor sequences make logs unreadable as text.
const ansi = new RegExp(`${String.fromCharCode(27)}\\[[0-9;?]*[ -/]*[@-~]`, 'g');

/** A state as words; a finished build's unfinished steps were never needed (or were left behind). */
function stateLabel(view, step) {
  if (view.state !== 'running' && step.state === 'waiting') return 'not needed';
  if (view.state !== 'running' && step.state === 'running') return 'never finished';
  return stateLabels[step.state] ?? step.state;
}

function details(view, end) {
  const step = view.steps.find((s) => s.digest === state.step);
  if (!step)
    return h(
      'section',
      { class: 'details muted' },
      'Select a step in the graph or the timeline to see why it ran and its logs.',
    );
  const time = stepDuration(step, end);
  let why;
  if (step.state === 'cached') why = 'Came from the cache.';
  else if (step.state === 'failed') why = `Failed: ${step.error ?? 'unknown error'}`;
  else if (step.state === 'running')
    why = view.state === 'running' ? 'Running.' : 'Started, but the build ended before it finished.';
  else if (step.state === 'waiting')
    why = view.state === 'running' ? 'Not started.' : 'Never needed: a later step came from the cache.';
  else why = step.summary ? `Ran because ${step.summary}.` : 'Ran.';
  return h(
    'section',
    { class: 'details', dataset: { digest: step.digest } },
    h('h3', { class: 'step-name' }, step.name),
    h(
      'p',
      { class: 'facts' },
      h('span', { class: `badge ${step.state}` }, stateLabel(view, step)),
      time !== undefined ? ` ${duration(time)}` : '',
      view.criticalPath.includes(step.digest) ? h('span', { class: 'badge critical' }, 'critical path') : '',
      h('code', { class: 'digest' }, step.digest),
    ),
    h('p', { class: 'reason' }, why),
    step.reason?.kind === 'files-changed' ? filesChanged(step.reason) : '',
    h('h4', {}, 'Logs'),
    step.logs
      ? h(
          'pre',
          { class: 'logs' },
          step.logsDropped
            ? h('span', { class: 'muted' }, `… ${step.logsDropped} earlier bytes not kept\n`)
            : '',
          step.logs.replace(ansi, ''),
        )
      : h('p', { class: 'muted' }, 'No output.'),
  );
}

function filesChanged(reason) {
  const items = [
    ...reason.changed.map((p) => ['changed', p]),
    ...reason.added.map((p) => ['added', p]),
    ...reason.removed.map((p) => ['removed', p]),
  ];
  return h(
    'ul',
    { class: 'files' },
    items
      .slice(0, 200)
      .map(([kind, path]) => h('li', { class: kind }, h('span', { class: 'kind' }, kind), path)),
  );
}

function renderBuild() {
  const view = state.view;
  if (!view) {
    buildPane.replaceChildren(h('p', { class: 'muted' }, state.ref ? 'Loading…' : 'No build selected.'));
    return;
  }
  const end = buildEnd();
  const select = (digest) => {
    location.hash = `#/builds/${encodeURIComponent(view.ref)}/${encodeURIComponent(digest)}`;
  };
  const scrollers = [...buildPane.querySelectorAll('.scroll')].map((e) => [e.scrollLeft, e.scrollTop]);
  const header = h(
    'header',
    { class: 'build-header' },
    h('h2', {}, h('span', { class: `dot ${view.state}` }), `Build ${view.ref}`),
    h(
      'p',
      { class: 'facts' },
      `${view.state} · ${duration(end - view.start)} · ${view.numSteps} steps, ${view.numCached} cached`,
      view.target ? ` · ${view.target}` : '',
      view.previous
        ? h(
            'span',
            {},
            ' · compared with ',
            h('a', { href: `#/builds/${encodeURIComponent(view.previous)}` }, view.previous),
          )
        : '',
    ),
    view.error ? h('p', { class: 'error' }, view.error) : '',
    view.argsChanged.length > 0
      ? h(
          'p',
          { class: 'args' },
          'Build args changed: ',
          view.argsChanged.map((a) =>
            h('code', {}, `${a.key}: ${a.before ?? 'default'} → ${a.after ?? 'default'}`),
          ),
        )
      : '',
  );
  const misses = view.steps.filter((s) => s.summary);
  const timelineWidth = Math.max(640, buildPane.clientWidth - 40);
  buildPane.replaceChildren(
    header,
    legend(),
    h('h3', {}, 'Graph'),
    h(
      'div',
      { class: 'scroll graph-box' },
      renderGraph(view, {
        selected: state.step,
        onSelect: select,
        end,
        label: (step) => stateLabel(view, step),
      }),
    ),
    h('h3', {}, 'Timeline'),
    h(
      'div',
      { class: 'scroll timeline-box' },
      renderTimeline(view, { selected: state.step, onSelect: select, end, width: timelineWidth }),
    ),
    misses.length > 0
      ? h(
          'section',
          { class: 'misses' },
          h('h3', {}, 'Why steps ran'),
          h(
            'ul',
            {},
            misses.map((s) =>
              h(
                'li',
                {},
                h(
                  'a',
                  { href: `#/builds/${encodeURIComponent(view.ref)}/${encodeURIComponent(s.digest)}` },
                  s.name,
                ),
                ': ',
                s.summary,
              ),
            ),
          ),
        )
      : '',
    details(view, end),
  );
  buildPane.querySelectorAll('.scroll').forEach((e, i) => {
    if (scrollers[i]) [e.scrollLeft, e.scrollTop] = scrollers[i];
  });
}

let listTimer;
function refreshList() {
  clearTimeout(listTimer);
  listTimer = setTimeout(async () => {
    try {
      state.builds = await getJson('/api/builds');
    } catch (err) {
      buildsPane.replaceChildren(h('p', { class: 'error' }, String(err.message ?? err)));
      return;
    }
    if (!state.ref && state.builds[0]) location.hash = `#/builds/${encodeURIComponent(state.builds[0].ref)}`;
    renderList();
  }, 50);
}

let fetching;
async function refreshBuild() {
  const ref = state.ref;
  if (!ref) return renderBuild();
  // One request at a time; a change during it asks for one more.
  if (fetching) return void (fetching.again = true);
  fetching = { again: false };
  try {
    const view = await getJson(`/api/builds/${encodeURIComponent(ref)}`);
    if (state.ref === ref) {
      state.view = view;
      state.fetchedAt = Date.now();
      renderBuild();
    }
  } catch (err) {
    buildPane.replaceChildren(h('p', { class: 'error' }, String(err.message ?? err)));
  } finally {
    const again = fetching.again;
    fetching = undefined;
    if (again) void refreshBuild();
  }
}

function onLocation() {
  const { ref, step } = readLocation();
  const changed = ref !== state.ref;
  state.ref = ref;
  state.step = step;
  if (changed) {
    state.view = undefined;
    renderList();
    void refreshBuild();
  } else renderBuild();
}

function connect() {
  const events = new EventSource('/api/events');
  events.addEventListener('open', () => {
    live.textContent = 'live';
    live.className = 'live on';
    void refreshList();
    void refreshBuild();
  });
  events.addEventListener('error', () => {
    live.textContent = 'reconnecting…';
    live.className = 'live';
  });
  events.addEventListener('builds', () => void refreshList());
  events.addEventListener('build', (event) => {
    if (JSON.parse(event.data).ref === state.ref) void refreshBuild();
  });
}

// Running bars grow between updates.
setInterval(() => {
  if (state.view?.state === 'running') renderBuild();
}, 1000);

window.addEventListener('hashchange', onLocation);
onLocation();
void refreshList();
connect();
