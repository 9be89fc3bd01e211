/* global document */
// Small DOM helpers. Every value that comes from a build (step names, logs, refs) reaches the
// page as a text node or a plain attribute value, never as markup.

const svgNamespace = 'http://www.w3.org/2000/svg';

function assign(node, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, String(value));
  }
}

function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(typeof child === 'object' ? child : document.createTextNode(String(child)));
  }
}

/** An HTML element: `h('p', { class: 'x' }, 'text', child)`. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  assign(node, attrs);
  append(node, children);
  return node;
}

/** An SVG element. */
export function s(tag, attrs = {}, ...children) {
  const node = document.createElementNS(svgNamespace, tag);
  assign(node, attrs);
  append(node, children);
  return node;
}

/** `850ms`, `1.25s`, `2m05s`. */
export function duration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)}s`;
  const secs = Math.round(ms / 1000);
  return `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s`;
}

/** A step's time so far: to its end, to the build's end, or to now while it runs. */
export function stepDuration(step, end) {
  if (!step.started) return undefined;
  return (step.completed ?? end) - step.started;
}

/** Shortens to `max` characters with an ellipsis. */
export function clip(text, max) {
  const flat = text.replace(/\s+/g, ' ');
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

export const stateLabels = {
  cached: 'cached',
  done: 'ran',
  failed: 'failed',
  running: 'running',
  waiting: 'waiting',
};
