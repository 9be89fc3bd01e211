/**
 * One filesystem mount, in the form mount(2) takes it: how a snapshot is made visible. An
 * overlay snapshot is `{ type: 'overlay', source: 'overlay', options: ['lowerdir=…', 'upperdir=…',
 * 'workdir=…'] }`; a native snapshot is `{ type: 'bind', source: dir, options: ['rbind', 'rw'] }`.
 * A snapshot's mounts are always a list, applied in order at the same target.
 */
export interface Mount {
  readonly type: string;
  readonly source: string;
  readonly options: readonly string[];
}
