import type { SessionManager } from '../session/index.js';
import type { BuildResult, ExporterRequest, ExportRunner, Job, SnapshotAccess } from '../solver/index.js';
import { ExporterRequestError } from './errors.js';
import { exportLocal, exportTar } from './local.js';

export interface ExporterDeps {
  readonly sessions: SessionManager;
  readonly access: SnapshotAccess;
}

/** Runs the outputs a build asked for, by exporter type. */
export class Exporters implements ExportRunner {
  constructor(private readonly deps: ExporterDeps) {}

  async export(request: ExporterRequest, result: BuildResult, job: Job): Promise<Record<string, string>> {
    switch (request.type) {
      case 'local':
      case 'tar': {
        const session = await this.deps.sessions.get(job.options.sessionId, {
          timeoutMs: 5000,
          signal: job.signal,
        });
        const context = { job, session, access: this.deps.access };
        return request.type === 'local' ? exportLocal(result, context) : exportTar(result, context);
      }
      default:
        throw new ExporterRequestError(
          `exporter ${JSON.stringify(request.type)} is not supported`,
          'unimplemented',
        );
    }
  }
}
