// The build graph as inline SVG: steps in rows by depth (the longest path from a source), inputs
// above, edges as curves; the critical path drawn thicker.
import { clip, duration, s, stepDuration } from './dom.js';

const nodeWidth = 200;
const nodeHeight = 40;
const columnGap = 14;
const rowGap = 34;
const margin = 12;

/** Rows of digests: depth first, then ordered by where their inputs sit (fewer crossings). */
export function layout(steps) {
  const byDigest = new Map(steps.map((step) => [step.digest, step]));
  const depth = new Map();
  const visiting = new Set();
  const depthOf = (digest) => {
    if (depth.has(digest)) return depth.get(digest);
    const step = byDigest.get(digest);
    if (!step || visiting.has(digest)) return 0;
    visiting.add(digest);
    const d = step.inputs.length > 0 ? 1 + Math.max(...step.inputs.map(depthOf)) : 0;
    visiting.delete(digest);
    depth.set(digest, d);
    return d;
  };
  const used = new Set(steps.flatMap((step) => step.inputs));
  const columns = [];
  for (const step of steps) {
    const d = depthOf(step.digest);
    (columns[d] ??= []).push(step.digest);
  }
  const row = new Map();
  columns.forEach((column, c) => {
    if (c === 0) {
      // Sources that feed the graph first; lone steps (metadata, exporters) below them.
      column.sort((a, b) => Number(!used.has(a)) - Number(!used.has(b)));
    } else {
      const weight = (digest) => {
        const rows = byDigest.get(digest).inputs.map((i) => row.get(i) ?? 0);
        return rows.reduce((sum, r) => sum + r, 0) / rows.length;
      };
      const weights = new Map(column.map((digest) => [digest, weight(digest)]));
      column.sort((a, b) => weights.get(a) - weights.get(b));
    }
    column.forEach((digest, r) => row.set(digest, r));
  });
  // `columns[d]` holds depth d; drawn as rows, top to bottom.
  const position = new Map();
  columns.forEach((column, d) =>
    column.forEach((digest, i) =>
      position.set(digest, {
        x: margin + i * (nodeWidth + columnGap),
        y: margin + d * (nodeHeight + rowGap),
      }),
    ),
  );
  const widest = Math.max(1, ...columns.map((column) => column.length));
  return {
    position,
    width: margin * 2 + widest * nodeWidth + (widest - 1) * columnGap,
    height: margin * 2 + columns.length * nodeHeight + Math.max(0, columns.length - 1) * rowGap,
  };
}

/** The graph of `view`; `onSelect(digest)` when a step is clicked; `label(step)` names its state. */
export function renderGraph(view, { selected, onSelect, end, label }) {
  const { position, width, height } = layout(view.steps);
  const critical = new Set(view.criticalPath);
  const nextOnPath = new Map(view.criticalPath.map((digest, i) => [digest, view.criticalPath[i + 1]]));
  const edges = s('g', { class: 'edges' });
  const nodes = s('g', { class: 'nodes' });
  for (const step of view.steps) {
    const to = position.get(step.digest);
    for (const input of step.inputs) {
      const from = position.get(input);
      if (!from) continue;
      const x1 = from.x + nodeWidth / 2;
      const y1 = from.y + nodeHeight;
      const x2 = to.x + nodeWidth / 2;
      const y2 = to.y;
      const bend = Math.max(16, (y2 - y1) / 2);
      const onPath = nextOnPath.get(input) === step.digest;
      edges.append(
        s('path', {
          class: onPath ? 'edge critical' : 'edge',
          d: `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`,
        }),
      );
    }
    const time = stepDuration(step, end);
    const classes = [
      'node',
      step.state,
      critical.has(step.digest) ? 'critical' : '',
      step.digest === selected ? 'selected' : '',
    ];
    nodes.append(
      s(
        'g',
        {
          class: classes.filter(Boolean).join(' '),
          transform: `translate(${to.x},${to.y})`,
          tabindex: 0,
          role: 'button',
          dataset: { digest: step.digest, state: step.state },
          onclick: () => onSelect(step.digest),
          onkeydown: (event) => {
            if (event.key === 'Enter' || event.key === ' ') onSelect(step.digest);
          },
        },
        s('title', {}, step.name),
        s('rect', { width: nodeWidth, height: nodeHeight, rx: 5 }),
        s('text', { x: 8, y: 16, class: 'name' }, clip(step.name, 30)),
        s(
          'text',
          { x: 8, y: 32, class: 'meta' },
          `${label(step)}${time !== undefined ? ` · ${duration(time)}` : ''}`,
        ),
      ),
    );
  }
  return s(
    'svg',
    {
      class: 'graph',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`,
      role: 'img',
      'aria-label': 'build graph',
    },
    edges,
    nodes,
  );
}
