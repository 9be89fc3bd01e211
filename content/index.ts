export type {
  ContentInfo,
  ContentManager,
  ContentProvider,
  ContentStore,
  ContentWriter,
  Ingester,
  LeaseManager,
  ReadOptions,
  WriterOptions,
} from './content.js';
