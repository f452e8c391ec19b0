/**
 * How busy the machine was besides the process being measured (Linux `/proc`): benchmarks on a
 * shared machine report it next to every timing. `othersCores` is the average number of cores
 * that other processes kept busy between two samples; the measured process tree (this process,
 * and e.g. a browser it launched) is left out.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/** USER_HZ: the unit of /proc CPU times on Linux. */
const TICKS_PER_SECOND = 100;

export interface CpuSample {
  readonly at: number;
  /** Busy ticks of all CPUs (user, nice, system, irq, softirq, steal). */
  readonly busy: number;
  /** Busy ticks of the measured processes. */
  readonly own: number;
  readonly pids: readonly number[];
}

export interface CpuLoad {
  readonly loadAverage: readonly number[];
  /** Cores kept busy by other processes, averaged since the start sample (0 for a start sample). */
  readonly othersCores: number;
  readonly sample: CpuSample | null;
}

function readBusy(): number | null {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
    return user + nice + system + irq + softirq + steal;
  } catch {
    return null;
  }
}

function statOf(pid: number): { ppid: number; ticks: number } | null {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the parenthesised command name: state ppid … utime(14) stime(15).
    const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
  } catch {
    return null;
  }
}

/** `roots` and all their descendants, from /proc. */
export function processTree(roots: readonly number[]): number[] {
  const children = new Map<number, number[]>();
  let pids: number[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
  } catch {
    return [...roots];
  }
  for (const pid of pids) {
    const s = statOf(pid);
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(pid);
    children.set(s.ppid, list);
  }
  const out = new Set<number>();
  const stack = [...roots];
  while (stack.length > 0) {
    const pid = stack.pop() as number;
    if (out.has(pid)) continue;
    out.add(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return [...out];
}

function sample(pids: readonly number[]): CpuSample | null {
  const busy = readBusy();
  if (busy === null) return null;
  let own = 0;
  for (const pid of pids) own += statOf(pid)?.ticks ?? 0;
  return { at: performance.now(), busy, own, pids };
}

/**
 * A sample now. With `since`, also the other processes' average core use since then, counting
 * the measured tree as `roots` (default this process) and their descendants.
 */
export function cpuLoad(since?: CpuLoad, roots: readonly number[] = [process.pid]): CpuLoad {
  const pids = processTree(roots);
  // Processes that ended between the samples are counted as others; the tree's own ticks are
  // compared per pid so that new children (browser helpers) count from zero.
  const now = sample(since?.sample ? [...new Set([...since.sample.pids, ...pids])] : pids);
  const loadAverage = loadavg();
  if (!since?.sample || !now) return { loadAverage, othersCores: 0, sample: now };
  const seconds = (now.at - since.sample.at) / 1000;
  const ownTicks = now.own - since.sample.own;
  const others = Math.max(0, now.busy - since.sample.busy - ownTicks) / TICKS_PER_SECOND;
  return { loadAverage, othersCores: seconds > 0 ? others / seconds : 0, sample: now };
}
