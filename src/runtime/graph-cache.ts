import { DisposedError, InvalidArgumentError } from '../errors.js';

/** What the cache holds: anything compiled that owns GPU buffers and can free them. */
export interface CachedGraph {
  /** Bytes of the GPU buffers it owns (what the budget counts). */
  readonly bytes: number;
  /** When present and true, the graph was disposed by its user: the cache compiles it again. */
  readonly isDisposed?: boolean;
  dispose(): void;
}

export interface GraphCacheOptions {
  /** Activation bytes kept compiled across all components (default 2 GiB). */
  readonly maxBytes?: number;
}

export interface GetOptions {
  /**
   * Graphs this one binds buffers of (a conditioning graph reads the encoders' outputs and writes
   * the denoiser's inputs): when any of them is evicted or disposed, this one goes too.
   */
  readonly dependsOn?: readonly CachedGraph[];
}

interface Entry {
  readonly id: string;
  readonly owner: object;
  readonly promise: Promise<CachedGraph>;
  graph: CachedGraph | null;
  bytes: number;
  lastUsed: number;
  pins: number;
  dead: boolean;
  readonly dependents: Set<Entry>;
  readonly dependsOn: Entry[];
}

export const DEFAULT_GRAPH_CACHE_BYTES = 2 * 1024 ** 3;

/**
 * One cache of compiled graphs for every component (denoiser, text encoders, VAE, the sampler's
 * and the conditioning's small graphs), keyed by owner and shape. It keeps the compiled graphs'
 * buffers within a byte budget: when a newly compiled graph takes the total over it, the least
 * recently used graphs that are not pinned are disposed (their buffers freed) until it fits. The
 * newest graph is kept even when it alone exceeds the budget — the caller is about to run it.
 *
 * Two requests for one key share one compile (the pending promise is cached before anything is
 * awaited), so racing callers get the same graph and pay for one compile. A graph whose owner is
 * released while it compiles is disposed when the compile ends and its callers get DisposedError.
 * Code that runs a graph across awaits pins it (`pin`) so eviction cannot free it mid-use.
 */
export class GraphCache {
  readonly maxBytes: number;
  private readonly entries = new Map<string, Entry>();
  private readonly byGraph = new Map<CachedGraph, Entry>();
  private readonly ownerIds = new WeakMap<object, number>();
  private nextOwner = 0;
  private clock = 0;
  private liveBytes = 0;
  private compiles = 0;

  constructor(o: GraphCacheOptions = {}) {
    const max = o.maxBytes ?? DEFAULT_GRAPH_CACHE_BYTES;
    if (!(max > 0)) throw new InvalidArgumentError('graphCache.maxBytes', 'a positive number of bytes', max);
    this.maxBytes = max;
  }

  /** Bytes held by compiled graphs now. */
  get bytes(): number {
    return this.liveBytes;
  }

  /** Graphs compiled or compiling. */
  get size(): number {
    return this.entries.size;
  }

  /** Compiles started through this cache (a test hook: racing requests must start one). */
  get compileCount(): number {
    return this.compiles;
  }

  private ownerId(owner: object): number {
    let id = this.ownerIds.get(owner);
    if (id === undefined) {
      id = this.nextOwner++;
      this.ownerIds.set(owner, id);
    }
    return id;
  }

  /** The graph of `owner` for `key`: cached, being compiled, or compiled now by `compile`. */
  get<G extends CachedGraph>(owner: object, key: string, compile: () => Promise<G>, o: GetOptions = {}): Promise<G> {
    const id = `${this.ownerId(owner)}|${key}`;
    const existing = this.entries.get(id);
    if (existing && existing.graph?.isDisposed) this.remove(existing, false);
    else if (existing && !existing.dead) {
      existing.lastUsed = ++this.clock;
      return existing.promise as Promise<G>;
    }
    const dependsOn = (o.dependsOn ?? []).map((g) => this.byGraph.get(g)).filter((e): e is Entry => e !== undefined && !e.dead);
    const entry: Entry = {
      id, owner, graph: null, bytes: 0, lastUsed: ++this.clock, pins: 0, dead: false,
      dependents: new Set(), dependsOn,
      promise: null as unknown as Promise<CachedGraph>,
    };
    this.compiles++;
    (entry as { promise: Promise<CachedGraph> }).promise = compile().then(
      (graph) => {
        if (entry.dead) {
          graph.dispose();
          throw new DisposedError(`graph ${key} (its component or a graph it reads was released while it compiled)`);
        }
        entry.graph = graph;
        entry.bytes = graph.bytes;
        this.liveBytes += graph.bytes;
        this.byGraph.set(graph, entry);
        entry.lastUsed = ++this.clock;
        this.evict(entry);
        return graph;
      },
      (error: unknown) => {
        this.remove(entry);
        throw error;
      },
    );
    for (const d of dependsOn) d.dependents.add(entry);
    this.entries.set(id, entry);
    return entry.promise as Promise<G>;
  }

  /** Keeps `graph` from eviction until the returned function is called (idempotent). */
  pin(graph: CachedGraph): () => void {
    const entry = this.byGraph.get(graph);
    if (!entry) return () => undefined;
    entry.pins++;
    entry.lastUsed = ++this.clock;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      entry.pins--;
      if (entry.pins === 0 && !entry.dead) this.evict(null);
    };
  }

  /** Whether the cache holds `graph` (not evicted or disposed). */
  holds(graph: CachedGraph): boolean {
    const entry = this.byGraph.get(graph);
    return entry !== undefined && !entry.dead;
  }

  /** Forgets a graph disposed by its user (its dependents are disposed too). */
  forget(graph: CachedGraph): void {
    const entry = this.byGraph.get(graph);
    if (entry) this.remove(entry, false);
  }

  /** Disposes every graph of `owner` (a component being disposed), compiling ones when they finish. */
  release(owner: object): void {
    for (const entry of [...this.entries.values()]) if (entry.owner === owner) this.remove(entry);
  }

  /** Disposes every graph. */
  clear(): void {
    for (const entry of [...this.entries.values()]) this.remove(entry);
  }

  private evict(keep: Entry | null): void {
    while (this.liveBytes > this.maxBytes) {
      let victim: Entry | null = null;
      for (const e of this.entries.values()) {
        if (e === keep || e.graph === null || e.pins > 0 || this.pinnedBelow(e)) continue;
        if (!victim || e.lastUsed < victim.lastUsed) victim = e;
      }
      if (!victim) return;
      this.remove(victim);
    }
  }

  /** A graph whose dependent is pinned must stay: the pinned one binds its buffers. */
  private pinnedBelow(e: Entry): boolean {
    for (const d of e.dependents) if (d.pins > 0 || this.pinnedBelow(d)) return true;
    return false;
  }

  private remove(entry: Entry, disposeGraph = true): void {
    if (entry.dead) return;
    entry.dead = true;
    if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id);
    for (const d of entry.dependsOn) d.dependents.delete(entry);
    for (const dependent of [...entry.dependents]) this.remove(dependent);
    if (entry.graph) {
      this.liveBytes -= entry.bytes;
      this.byGraph.delete(entry.graph);
      if (disposeGraph) entry.graph.dispose();
    }
  }
}
