export { ExporterRequestError } from './errors.js';
export { Exporters, type ExporterDeps } from './exporter.js';
export { treeTar } from './tree-tar.js';
