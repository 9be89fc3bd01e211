import type { BuildCapture } from './build-capture.js';

const message = (event: string, data: unknown): string =>
  `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

/**
 * Server-sent events for the page: `builds` when a build starts, finishes or goes (refetch the
 * list), `build` when a running build's progress moved (refetch that build; at most one per ref
 * every `throttleMs`), and a comment every `heartbeatMs` so proxies keep the stream open. Ends
 * when `signal` aborts (the client left, or the daemon stops).
 */
export async function* eventStream(options: {
  capture: BuildCapture;
  signal: AbortSignal;
  throttleMs?: number;
  heartbeatMs?: number;
}): AsyncGenerator<string> {
  const { capture, signal } = options;
  const queue: string[] = [];
  let wake: (() => void) | undefined;
  const push = (text: string): void => {
    queue.push(text);
    wake?.();
  };
  const pending = new Map<string, NodeJS.Timeout>();
  const unsubscribe = capture.subscribe((change) => {
    if (change.type !== 'progress') {
      push(message('builds', change));
      push(message('build', { ref: change.ref }));
      return;
    }
    if (pending.has(change.ref)) return;
    const timer = setTimeout(() => {
      pending.delete(change.ref);
      push(message('build', { ref: change.ref }));
    }, options.throttleMs ?? 250);
    pending.set(change.ref, timer);
  });
  const heartbeat = setInterval(() => push(': keep-alive\n\n'), options.heartbeatMs ?? 15_000);
  const onAbort = (): void => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    yield 'retry: 2000\n: connected\n\n';
    while (!signal.aborted) {
      if (queue.length > 0) {
        yield queue.splice(0).join('');
        continue;
      }
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
    }
  } finally {
    unsubscribe();
    clearInterval(heartbeat);
    for (const timer of pending.values()) clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}
