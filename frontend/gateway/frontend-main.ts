/**
 * kiln's Dockerfile frontend as a gateway frontend image's entrypoint (frontend/Dockerfile): the
 * daemon starts it with LLBBridge on stdin/stdout, and it builds exactly as the built-in
 * dockerfile.v0 does. Exits 0 when the build succeeded, 1 when it failed (the daemon has the error).
 */
import { dockerfileFrontend } from '../dockerfile/index.js';
import { runFrontend } from './run-frontend.js';

process.exit(await runFrontend(dockerfileFrontend));
