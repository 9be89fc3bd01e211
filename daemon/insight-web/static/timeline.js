// The timeline: one row per step, a bar from its start to its end on a shared time axis, the
// critical path highlighted. Steps that never started are listed without a bar.
import { clip, duration, s, stepDuration } from './dom.js';

const labelWidth = 290;
const rowHeight = 22;
const axisHeight = 26;
const durationRoom = 64;

function tickStep(span) {
  const raw = span / 6;
  const power = 10 ** Math.floor(Math.log10(Math.max(raw, 1)));
  return [1, 2, 5, 10].map((m) => m * power).find((step) => step >= raw) ?? 10 * power;
}

/** Steps in the order they started (not started last). */
export function timelineOrder(steps) {
  return [...steps].sort(
    (a, b) => (a.started ?? Infinity) - (b.started ?? Infinity) || a.name.localeCompare(b.name),
  );
}

/** The timeline of `view`, `width` pixels wide; `end` is the build's end (now, while it runs). */
export function renderTimeline(view, { selected, onSelect, end, width }) {
  const chart = Math.max(200, width - labelWidth - durationRoom);
  const span = Math.max(1, end - view.start);
  const x = (t) => labelWidth + ((t - view.start) / span) * chart;
  const rows = timelineOrder(view.steps);
  const height = axisHeight + rows.length * rowHeight + 6;
  const axis = s('g', { class: 'axis' });
  const step = tickStep(span);
  for (let t = 0; t <= span; t += step) {
    axis.append(
      s('line', { x1: x(view.start + t), x2: x(view.start + t), y1: axisHeight - 6, y2: height }),
      s('text', { x: x(view.start + t), y: axisHeight - 10, 'text-anchor': 'middle' }, duration(t)),
    );
  }
  const critical = new Set(view.criticalPath);
  const bars = s('g', { class: 'rows' });
  rows.forEach((row, i) => {
    const y = axisHeight + i * rowHeight;
    const time = stepDuration(row, end);
    const classes = [
      'row',
      row.state,
      critical.has(row.digest) ? 'critical' : '',
      row.digest === selected ? 'selected' : '',
    ];
    const group = s(
      'g',
      {
        class: classes.filter(Boolean).join(' '),
        tabindex: 0,
        role: 'button',
        dataset: { digest: row.digest, state: row.state },
        onclick: () => onSelect(row.digest),
        onkeydown: (event) => {
          if (event.key === 'Enter' || event.key === ' ') onSelect(row.digest);
        },
      },
      s('title', {}, row.name),
      s('rect', { class: 'band', x: 0, y, width: labelWidth + chart + durationRoom, height: rowHeight }),
      s('text', { class: 'label', x: 6, y: y + 15 }, clip(row.name, 44)),
    );
    if (row.started) {
      const x1 = x(row.started);
      const x2 = Math.max(x1 + 3, x(row.completed ?? end));
      group.append(
        s('rect', { class: 'bar', x: x1, y: y + 4, width: x2 - x1, height: rowHeight - 8, rx: 2 }),
        s('text', { class: 'time', x: x2 + 5, y: y + 15 }, time !== undefined ? duration(time) : ''),
      );
    }
    bars.append(group);
  });
  const total = labelWidth + chart + durationRoom;
  return s(
    'svg',
    {
      class: 'timeline',
      width: total,
      height,
      viewBox: `0 0 ${total} ${height}`,
      role: 'img',
      'aria-label': 'build timeline',
    },
    axis,
    bars,
  );
}
