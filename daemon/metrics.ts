import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import type { BytesEvent, JobEvent, VertexEvent } from '../solver/index.js';

type Labels = Readonly<Record<string, string>>;

interface Series {
  readonly help: string;
  readonly type: 'counter' | 'gauge' | 'histogram';
  readonly values: Map<string, number>;
}

const durationBuckets = [0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600];

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return '';
  return `{${entries.map(([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`).join(',')}}`;
}

/**
 * kilnd's metrics in the Prometheus text format, fed by the solver's diagnostics channels and
 * by gauges read when scraped.
 */
export class Metrics {
  readonly #series = new Map<string, Series>();
  readonly #gauges: Array<() => Promise<void> | void> = [];
  readonly #handlers: Array<[string, (message: unknown) => void]> = [];

  constructor() {
    this.#define('kiln_builds_total', 'Builds finished, by result.', 'counter');
    this.#define('kiln_build_duration_seconds', 'Build duration from Solve to its answer.', 'histogram');
    this.#define('kiln_vertices_total', 'Steps settled, by how (cached, done, failed).', 'counter');
    this.#define('kiln_cache_hit_ratio', 'Cached steps over cached and executed steps since start.', 'gauge');
    this.#define(
      'kiln_bytes_total',
      'Bytes pulled from registries, transferred from clients, pushed.',
      'counter',
    );
    this.#define('kiln_queue_depth', 'Op executions waiting for a slot under max-parallelism.', 'gauge');
    this.#define('kiln_running_ops', 'Op executions running now.', 'gauge');
    this.#define('kiln_builds_active', 'Builds in progress.', 'gauge');
    this.#define('kiln_disk_usage_bytes', 'Bytes kiln keeps on disk, by record type.', 'gauge');
    this.#on('kiln:solver:job', (e: JobEvent) => {
      if (e.phase !== 'end') return;
      this.inc('kiln_builds_total', { result: e.failed ? 'failed' : 'succeeded' });
      this.observe('kiln_build_duration_seconds', (e.durationMs ?? 0) / 1000);
    });
    this.#on('kiln:solver:vertex', (e: VertexEvent) => {
      this.inc('kiln_vertices_total', { state: e.state });
      const cached = this.#get('kiln_vertices_total', { state: 'cached' });
      const done = this.#get('kiln_vertices_total', { state: 'done' });
      this.set('kiln_cache_hit_ratio', cached + done > 0 ? cached / (cached + done) : 0);
    });
    this.#on('kiln:solver:bytes', (e: BytesEvent) => this.inc('kiln_bytes_total', { kind: e.kind }, e.bytes));
  }

  /** A gauge refreshed on every scrape. */
  gauge(refresh: () => Promise<void> | void): void {
    this.#gauges.push(refresh);
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    const series = this.#series.get(name)!;
    const key = labelText(labels);
    series.values.set(key, (series.values.get(key) ?? 0) + by);
  }

  set(name: string, value: number, labels: Labels = {}): void {
    this.#series.get(name)!.values.set(labelText(labels), value);
  }

  observe(name: string, seconds: number): void {
    // Every bucket is present (cumulative counts), as Prometheus expects of a histogram.
    for (const le of durationBuckets) this.inc(name, { le: String(le) }, seconds <= le ? 1 : 0);
    this.inc(name, { le: '+Inf' });
    const series = this.#series.get(name)!;
    series.values.set('_sum', (series.values.get('_sum') ?? 0) + seconds);
    series.values.set('_count', (series.values.get('_count') ?? 0) + 1);
  }

  async render(): Promise<string> {
    for (const refresh of this.#gauges) await refresh();
    let out = '';
    for (const [name, series] of this.#series) {
      out += `# HELP ${name} ${series.help}\n# TYPE ${name} ${series.type}\n`;
      for (const [key, value] of series.values) {
        if (key === '_sum' || key === '_count') out += `${name}${key} ${value}\n`;
        else out += `${name}${series.type === 'histogram' ? '_bucket' : ''}${key} ${value}\n`;
      }
    }
    return out;
  }

  close(): void {
    for (const [name, handler] of this.#handlers) unsubscribe(name, handler);
  }

  #define(name: string, help: string, type: Series['type']): void {
    this.#series.set(name, { help, type, values: new Map() });
  }

  #get(name: string, labels: Labels): number {
    return this.#series.get(name)?.values.get(labelText(labels)) ?? 0;
  }

  #on<T>(name: string, handler: (message: T) => void): void {
    const wrapped = (message: unknown) => handler(message as T);
    subscribe(name, wrapped);
    this.#handlers.push([name, wrapped]);
  }
}
