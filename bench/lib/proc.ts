// A child process's own numbers, from /proc (Linux): what the bench reads of the servers it
// runs as child processes (bench/lib/server-process.ts) while it loads them.
import { readFile } from 'node:fs/promises';

/** The process's resident set, MB (VmRSS). */
export async function rssMB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb) / 1024;
}

/** Linux reports CPU times in USER_HZ ticks, 100 per second on every architecture it runs on. */
const MS_PER_TICK = 10;

/** User + system CPU time of the process so far, ms (fields 14 and 15 of /proc/<pid>/stat). */
export async function cpuMs(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * MS_PER_TICK;
}
