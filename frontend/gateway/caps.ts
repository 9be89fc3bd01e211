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

/**
 * The container caps (NewContainer, ExecProcess, ReleaseContainer with extra hosts), served to
 * frontends that gateway.v0 runs in containers on top of `gatewayCaps`. Signals and terminals
 * are not offered: a process can only be killed, through its stream's cancellation.
 */
export const gatewayExecCaps: ReadonlyArray<{ readonly id: string; readonly deprecated?: boolean }> = [
  { id: 'gateway.exec' },
  { id: 'gateway.exec.extrahosts' },
];
