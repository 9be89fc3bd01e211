#!/usr/bin/env node
import { loadConfig, usage } from './config.js';
import { dockerfileFrontend } from '../frontend/index.js';
import { startDaemon } from './daemon.js';
import { createLogger } from './logger.js';

/** kilnd: parse flags and config, start, and shut down cleanly on SIGINT/SIGTERM. */
async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(usage);
    return 0;
  }
  let config;
  try {
    config = await loadConfig(argv);
  } catch (err) {
    process.stderr.write(`kilnd: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  const logger = createLogger({ format: config.logFormat, debug: config.debug });
  let daemon;
  try {
    daemon = await startDaemon(config, logger, {
      frontends: new Map([['dockerfile.v0', dockerfileFrontend]]),
    });
  } catch (err) {
    logger.error((err as Error).message);
    return 1;
  }
  await new Promise<void>((resolve) => {
    const shutdown = (signal: string): void => {
      logger.info({ signal }, 'shutting down');
      resolve();
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
  });
  await daemon.stop(config.shutdownTimeoutMs);
  logger.info('stopped');
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
