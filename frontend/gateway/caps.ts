/**
 * The gateway (frontend API) capabilities kiln serves, as LLBBridge.Ping reports them. buildctl
 * needs `return`, `proto.refarray` and `returnmap`; without any caps it falls back to the
 * legacy inline-return protocol.
 */
export const gatewayCaps: ReadonlyArray<{ readonly id: string; readonly deprecated?: boolean }> = [
  { id: 'solve.base' },
  { id: 'solve.inlinereturn', deprecated: true },
  { id: 'resolveimage' },
  { id: 'resolveimage.resolvemode' },
  { id: 'readfile' },
  { id: 'return' },
  { id: 'returnmap' },
  { id: 'readdir' },
  { id: 'statfile' },
  { id: 'importcaches' },
  { id: 'proto.refarray' },
  { id: 'reference.output' },
  { id: 'frontend.inputs' },
  { id: 'gateway.solve.metadata' },
  { id: 'frontend.caps' },
  { id: 'gateway.solve.evaluate' },
  { id: 'gateway.evaluate' },
  { id: 'gateway.warnings' },
];
