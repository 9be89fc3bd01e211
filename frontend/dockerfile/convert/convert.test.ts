import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fromBinary, toJson } from '@bufbuild/protobuf';
import { type HostIP, type Ulimit, type UlimitName, llbCaps, marshal } from '../../../llb/index.js';
import { type ImageConfig, type Platform, parsePlatform, sha256 } from '../../../oci/index.js';
import { type Definition, DefinitionSchema, OpSchema } from '../../../proto/gen/pb/ops_pb.js';
import { type ConvertOptions, type ResolvedImage, convertDockerfile, marshalImageConfig } from '../index.js';

// Cases and BuildKit v0.11.6's answers for them: dockerfile2llb run by a throwaway Go program over
// the same inputs (images.json stands in for the registry), its Definition and image config kept.
const testdata = new URL('../../../../frontend/dockerfile/testdata/llb/', import.meta.url);
const read = (name: string): unknown => JSON.parse(readFileSync(new URL(name, testdata), 'utf8'));

interface Case {
  name: string;
  dockerfile: string;
  buildArgs?: Record<string, string>;
  labels?: Record<string, string>;
  target?: string;
  targetPlatform?: string;
  buildPlatform?: string;
  excludes?: string[];
  ignoreCache?: string[];
  cacheNS?: string;
  extraHosts?: HostIP[];
  shmSize?: number;
  ulimits?: { name: string; soft: number; hard: number }[];
  cgroupParent?: string;
  forceNet?: 'none' | 'host';
  hostname?: string;
  epoch?: number;
  prefixPlatform?: boolean;
  resolveMode?: 'pull' | 'local';
  sessionID?: string;
  contextName?: string;
  labs?: boolean;
}
interface Expected {
  name: string;
  error?: string;
  definition?: string;
  image?: string;
}

const cases = read('cases.json') as Case[];
const expected = new Map((read('expected.json') as Expected[]).map((e) => [e.name, e]));
const imageData = read('images.json') as Record<string, { digest: string; config: ImageConfig }>;
const images = new Map<string, ResolvedImage>(Object.entries(imageData));
const caps = new Set(llbCaps.filter((c) => c.origin === 'v0.11.6').map((c) => c.id));

export function convertOptions(c: Case): ConvertOptions {
  const buildPlatform: Platform = parsePlatform(c.buildPlatform ?? 'linux/amd64');
  return {
    dockerfile: c.dockerfile,
    sourceMap: { filename: 'Dockerfile', data: c.dockerfile },
    buildPlatform,
    ...(c.targetPlatform ? { targetPlatform: parsePlatform(c.targetPlatform) } : {}),
    ...(c.target ? { target: c.target } : {}),
    buildArgs: new Map(Object.entries(c.buildArgs ?? {})),
    labels: new Map(Object.entries(c.labels ?? {})),
    images,
    sessionId: c.sessionID ?? 'sess',
    ...(c.contextName ? { contextLocalName: c.contextName } : {}),
    ...(c.excludes ? { excludes: c.excludes } : {}),
    ...(c.ignoreCache ? { ignoreCache: c.ignoreCache } : {}),
    ...(c.cacheNS ? { cacheNamespace: c.cacheNS } : {}),
    ...(c.extraHosts ? { extraHosts: c.extraHosts } : {}),
    ...(c.shmSize ? { shmSize: c.shmSize } : {}),
    ...(c.ulimits ? { ulimits: c.ulimits.map((u): Ulimit => ({ ...u, name: u.name as UlimitName })) } : {}),
    ...(c.cgroupParent ? { cgroupParent: c.cgroupParent } : {}),
    ...(c.forceNet ? { forceNetwork: c.forceNet } : {}),
    ...(c.hostname ? { hostname: c.hostname } : {}),
    ...(c.epoch !== undefined
      ? { buildArgs: new Map([...Object.entries(c.buildArgs ?? {}), ['SOURCE_DATE_EPOCH', String(c.epoch)]]) }
      : {}),
    ...(c.prefixPlatform ? { prefixPlatform: true } : {}),
    ...(c.resolveMode ? { resolveMode: c.resolveMode } : {}),
    caps,
  };
}

/** Ops by digest, with their metadata and source locations in comparable form. */
function summarize(def: Definition) {
  const ops = new Map<string, unknown>();
  for (const bytes of def.def) {
    const op = fromBinary(OpSchema, bytes);
    const digest = sha256(bytes);
    const md = def.metadata[digest];
    const locations = def.Source?.locations[digest]?.locations.map((l) => ({
      file: def.Source!.infos[l.sourceIndex]?.filename,
      ranges: l.ranges.map((r) => [r.start?.line ?? 0, r.end?.line ?? 0]),
    }));
    ops.set(digest, {
      op: toJson(OpSchema, op),
      ignoreCache: md?.ignoreCache ?? false,
      description: md?.description ?? {},
      caps: Object.keys(md?.caps ?? {}).sort(),
      exportCache: md?.exportCache?.Value,
      progressGroup: md?.progressGroup && { name: md.progressGroup.name, weak: md.progressGroup.weak },
      locations: locations ?? [],
    });
  }
  return ops;
}

describe('convertDockerfile: LLB equal to BuildKit v0.11.6 dockerfile2llb', () => {
  for (const c of cases) {
    it(c.name, () => {
      const want = expected.get(c.name)!;
      assert.equal(want.error, undefined, `the oracle failed: ${want.error}`);
      const conversion = convertDockerfile(convertOptions(c));
      const def = marshal(conversion.state, { platform: conversion.platform, caps });
      const go = fromBinary(DefinitionSchema, Buffer.from(want.definition!, 'base64'));
      const ours = summarize(def);
      const theirs = summarize(go);
      const missing = [...theirs.keys()].filter((d) => !ours.has(d));
      const extra = [...ours.keys()].filter((d) => !theirs.has(d));
      assert.deepEqual(
        { missing: missing.map((d) => theirs.get(d)), extra: extra.map((d) => ours.get(d)) },
        { missing: [], extra: [] },
      );
      for (const [digest, theirOp] of theirs) assert.deepEqual(ours.get(digest), theirOp, digest);
      assert.deepEqual(
        def.Source?.infos.map((i) => [i.filename, Buffer.from(i.data).toString()]),
        go.Source?.infos.map((i) => [i.filename, Buffer.from(i.data).toString()]),
      );
      assert.equal(marshalImageConfig(conversion.image), want.image);
    });
  }
});
