// A CPU profile of this process while something runs (node:inspector, no extra tooling),
// summarized as self time per package and per function: enough to say where a request's
// time goes without opening DevTools. Used by cases 1 (map) and 3 (fan-out); keep the API stable.
import { Session } from 'node:inspector/promises';
import type { Profiler, Runtime } from 'node:inspector';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where the cases write their .cpuprofile files (for DevTools or speedscope; not committed). */
export const PROFILES_DIR = join(import.meta.dirname, '..', 'results', 'profiles');

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export interface ProfileSummary {
  /** Share of samples where the main thread had nothing to run (waiting for I/O). */
  idleShare: number;
  /** Busy samples by package, largest first; shares of busy time. */
  byGroup: Array<{ group: string; share: number }>;
  /** Busy samples by function, largest first; shares of busy time. */
  byFunction: Array<{ name: string; group: string; share: number }>;
}

/** Runs `fn` with the V8 sampling profiler on and returns the raw profile (also when fn throws). */
export async function profileDuring(fn: () => Promise<unknown>, intervalMicros = 250): Promise<Profiler.Profile> {
  const session = new Session();
  session.connect();
  try {
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: intervalMicros });
    await session.post('Profiler.start');
    const outcome = await fn().then(
      () => undefined,
      (error: unknown) => ({ error }),
    );
    const { profile } = await session.post('Profiler.stop');
    if (outcome) throw outcome.error;
    return profile;
  } finally {
    session.disconnect();
  }
}

/** Which package a frame belongs to: the npm package, "our src", node core, GC, … */
export function groupOf(frame: Runtime.CallFrame): string {
  const { url, functionName } = frame;
  if (!url) {
    if (functionName === '(garbage collector)') return 'GC';
    if (functionName === '(idle)') return 'idle';
    if (functionName === '(program)') return 'V8/native (program)';
    return 'V8 builtins/native';
  }
  if (url.startsWith('wasm://')) return 'wasm (Prisma query compiler)';
  if (url.startsWith('node:')) return 'node core';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const [first, second] = url.slice(modules + '/node_modules/'.length).split('/');
    return first!.startsWith('@') ? `${first}/${second}` : first!;
  }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (path.startsWith(`${repoRoot}src/generated/`)) return 'generated Prisma client (src/generated)';
  if (path.startsWith(`${repoRoot}src/`)) return 'our src/';
  if (path.startsWith(`${repoRoot}bench/`)) return 'bench harness';
  return 'other';
}

const shortLocation = (frame: Runtime.CallFrame) => {
  const file = frame.url.split('/').slice(-2).join('/');
  return file ? `${file}:${frame.lineNumber + 1}` : '';
};

export function summarizeProfile(profile: Profiler.Profile): ProfileSummary {
  const groups = new Map<string, number>();
  const functions = new Map<string, { name: string; group: string; hits: number }>();
  let idle = 0;
  let total = 0;
  for (const node of profile.nodes) {
    const hits = node.hitCount ?? 0;
    if (!hits) continue;
    total += hits;
    const group = groupOf(node.callFrame);
    if (group === 'idle') {
      idle += hits;
      continue;
    }
    groups.set(group, (groups.get(group) ?? 0) + hits);
    const name = `${node.callFrame.functionName || '(anonymous)'} ${shortLocation(node.callFrame)}`.trim();
    const key = `${group}|${name}`;
    const entry = functions.get(key) ?? { name, group, hits: 0 };
    entry.hits += hits;
    functions.set(key, entry);
  }
  const busy = Math.max(1, total - idle);
  return {
    idleShare: total ? idle / total : 0,
    byGroup: [...groups].map(([group, hits]) => ({ group, share: hits / busy })).sort((a, b) => b.share - a.share),
    byFunction: [...functions.values()]
      .map((f) => ({ name: f.name, group: f.group, share: f.hits / busy }))
      .sort((a, b) => b.share - a.share),
  };
}

/**
 * Share of the busy samples with a frame that `matches` anywhere on their stack (inclusive time:
 * the frame's own work and everything it called), e.g. every frame of one source file.
 */
export function inclusiveShare(profile: Profiler.Profile, matches: (frame: Runtime.CallFrame) => boolean): number {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const inside = new Set<number>();
  // Parents come before their children in V8's node list, but walk from the root to be sure.
  const stack = profile.nodes.length ? [{ id: profile.nodes[0]!.id, within: false }] : [];
  while (stack.length) {
    const { id, within } = stack.pop()!;
    const node = byId.get(id)!;
    const here = within || matches(node.callFrame);
    if (here) inside.add(id);
    for (const child of node.children ?? []) stack.push({ id: child, within: here });
  }
  let busy = 0;
  let hits = 0;
  for (const node of profile.nodes) {
    const count = node.hitCount ?? 0;
    if (!count || groupOf(node.callFrame) === 'idle') continue;
    busy += count;
    if (inside.has(node.id)) hits += count;
  }
  return busy ? hits / busy : 0;
}

const percent = (share: number) => `${(share * 100).toFixed(1)}%`;

/** A note for results.md: the summary as a few readable lines. */
export function profileNote(title: string, summary: ProfileSummary, top = 12): string {
  return [
    `${title}: main thread idle ${percent(summary.idleShare)} of samples (waiting on I/O); of the busy time:`,
    'by package:',
    ...summary.byGroup.slice(0, 10).map((g) => `  ${percent(g.share).padStart(6)}  ${g.group}`),
    'top functions (self time):',
    ...summary.byFunction.slice(0, top).map((f) => `  ${percent(f.share).padStart(6)}  ${f.name}  [${f.group}]`),
  ].join('\n');
}
