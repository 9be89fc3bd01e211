import { toFixedEven } from '../format/units.js';

/** Seconds since the step started, as a log line prefix: 3 decimals below 10 s, 2 below 100, else 1. */
export function formatLogSeconds(secs: number): string {
  const precision = secs < 10 ? 3 : secs < 100 ? 2 : 1;
  return toFixedEven(secs, precision);
}

/** Seconds with one decimal (`DONE 0.3s`, status timers). */
export function formatSeconds(secs: number): string {
  return toFixedEven(secs, 1);
}
