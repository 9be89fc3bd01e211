export {
  InsightWeb,
  type InsightHandler,
  type InsightRequest,
  type InsightResponse,
  type InsightWebOptions,
} from './insight-web.js';
export type { BuildSummary, BuildView, StepState, StepView } from './build-view.js';
export type { CaptureChange, CapturedLog, CapturedStep } from './build-capture.js';
export { InsightAssetMissingError } from './errors.js';
