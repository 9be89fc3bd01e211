/**
 * client/progress: buildctl's progress display for kilnctl and library users — the SolveStatus
 * model decoded from `Control.Status`, and the plain / tty / rawjson / quiet renderers.
 */
export {
  type ProgressLog,
  type ProgressStatus,
  type ProgressVertex,
  type ProgressWarning,
  type SolveStatus,
  solveStatusFromResponse,
} from './solve-status.js';
export {
  type ProgressDisplayOptions,
  type ProgressMode,
  type ProgressOutput,
  ProgressDisplay,
} from './display.js';
export { ProgressTrace } from './trace.js';
export { PlainPrinter, errorSummary } from './plain-printer.js';
export { rawJsonLine } from './rawjson.js';
