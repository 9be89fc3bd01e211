#!/usr/bin/env node
import { ControlClient } from './control-client.js';

/** kilnctl: a buildctl-compatible command line for kilnd (and buildkitd). */

const defaultAddress = 'unix:///run/buildkit/buildkitd.sock';

function platformText(p: { OS: string; Architecture: string; Variant: string }): string {
  return [p.OS, p.Architecture, p.Variant].filter(Boolean).join('/');
}

async function debugWorkers(client: ControlClient, verbose: boolean): Promise<void> {
  const { record } = await client.listWorkers();
  if (!verbose) {
    process.stdout.write('ID\tPLATFORMS\n');
    for (const w of record) process.stdout.write(`${w.ID}\t${w.platforms.map(platformText).join(',')}\n`);
    return;
  }
  for (const w of record) {
    process.stdout.write(`ID:\t\t${w.ID}\nPlatforms:\t${w.platforms.map(platformText).join(',')}\n`);
    const v = w.BuildkitVersion;
    if (v) process.stdout.write(`BuildKit:\t${v.package} ${v.version} ${v.revision}\n`);
    process.stdout.write('Labels:\n');
    for (const [k, val] of Object.entries(w.Labels).sort()) process.stdout.write(`\t${k}:\t${val}\n`);
    process.stdout.write('\n');
  }
}

async function main(argv: string[]): Promise<number> {
  let address = process.env.BUILDKIT_HOST || defaultAddress;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--addr') address = argv[++i] ?? address;
    else if (a.startsWith('--addr=')) address = a.slice('--addr='.length);
    else args.push(a);
  }
  const client = new ControlClient(address);
  try {
    const [command, sub] = args;
    if (command === 'debug' && sub === 'workers') await debugWorkers(client, args.includes('-v'));
    else if (command === 'debug' && sub === 'info') {
      const { buildkitVersion: v } = await client.info();
      process.stdout.write(`BuildKit:\t${v?.package ?? ''} ${v?.version ?? ''} ${v?.revision ?? ''}\n`);
    } else {
      process.stderr.write(`kilnctl: unknown command ${args.join(' ')}\n`);
      return 1;
    }
    return 0;
  } catch (err) {
    process.stderr.write(`error: ${(err as Error).message}\n`);
    return 1;
  } finally {
    client.close();
  }
}

process.exitCode = await main(process.argv.slice(2));
