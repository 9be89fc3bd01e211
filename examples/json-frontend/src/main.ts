/** The image's entrypoint: serve the JSON frontend to the daemon over stdin/stdout. */
import { runFrontend } from '../../../frontend/index.js';
import { jsonFrontend } from './frontend.js';

process.exit(await runFrontend(jsonFrontend));
