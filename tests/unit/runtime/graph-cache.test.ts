import { describe, expect, it } from 'vitest';
import { DisposedError, InvalidArgumentError } from '../../../src/errors.js';
import { type CachedGraph, GraphCache } from '../../../src/runtime/graph-cache.js';

/** A stand-in graph: its bytes, and whether it was disposed (its buffers freed). */
class FakeGraph implements CachedGraph {
  disposed = false;
  constructor(readonly bytes: number, readonly name: string) {}
  dispose(): void {
    this.disposed = true;
  }
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe('GraphCache', () => {
  it('serves two racing requests of one shape from one compile', async () => {
    const cache = new GraphCache({ maxBytes: 1000 });
    const owner = {};
    const gate = deferred<FakeGraph>();
    let compiles = 0;
    const compile = () => {
      compiles++;
      return gate.promise;
    };
    const a = cache.get(owner, 'shape', compile);
    const b = cache.get(owner, 'shape', compile);
    gate.resolve(new FakeGraph(10, 'g'));
    const [ga, gb] = await Promise.all([a, b]);
    expect(ga).toBe(gb);
    expect(compiles).toBe(1);
    expect(cache.compileCount).toBe(1);
    expect(await cache.get(owner, 'shape', compile)).toBe(ga);
    expect(compiles).toBe(1);
  });

  it('keys by owner and shape', async () => {
    const cache = new GraphCache();
    const [x, y] = [{}, {}];
    const gx = await cache.get(x, 's', async () => new FakeGraph(1, 'x'));
    const gy = await cache.get(y, 's', async () => new FakeGraph(1, 'y'));
    expect(gx).not.toBe(gy);
    expect(cache.size).toBe(2);
  });

  it('evicts the least recently used graphs over the byte budget and frees them', async () => {
    const cache = new GraphCache({ maxBytes: 100 });
    const owner = {};
    const a = await cache.get(owner, 'a', async () => new FakeGraph(40, 'a'));
    const b = await cache.get(owner, 'b', async () => new FakeGraph(40, 'b'));
    await cache.get(owner, 'a', async () => new FakeGraph(40, 'a again')); // touch a: b is now the oldest
    const c = await cache.get(owner, 'c', async () => new FakeGraph(40, 'c'));
    expect(b.disposed).toBe(true);
    expect(a.disposed).toBe(false);
    expect(c.disposed).toBe(false);
    expect(cache.bytes).toBe(80);
    expect(cache.holds(b)).toBe(false);
    // An evicted shape compiles again on the next request.
    const b2 = await cache.get(owner, 'b', async () => new FakeGraph(40, 'b2'));
    expect(b2).not.toBe(b);
    expect(a.disposed).toBe(true);
  });

  it('keeps the newest graph even when it alone is over budget', async () => {
    const cache = new GraphCache({ maxBytes: 10 });
    const big = await cache.get({}, 'big', async () => new FakeGraph(50, 'big'));
    expect(big.disposed).toBe(false);
    expect(cache.bytes).toBe(50);
  });

  it('never evicts a pinned graph, nor a graph a pinned one depends on', async () => {
    const cache = new GraphCache({ maxBytes: 100 });
    const owner = {};
    const a = await cache.get(owner, 'a', async () => new FakeGraph(40, 'a'));
    const dep = await cache.get(owner, 'dep', async () => new FakeGraph(10, 'dep'), { dependsOn: [a] });
    const unpin = cache.pin(dep);
    const b = await cache.get(owner, 'b', async () => new FakeGraph(40, 'b'));
    await cache.get(owner, 'c', async () => new FakeGraph(40, 'c'));
    expect(a.disposed).toBe(false);
    expect(dep.disposed).toBe(false);
    expect(b.disposed).toBe(true);
    unpin();
    await cache.get(owner, 'd', async () => new FakeGraph(40, 'd'));
    expect(a.disposed).toBe(true);
    expect(dep.disposed).toBe(true);
  });

  it('disposes dependents with the graph they bind, and everything of a released owner', async () => {
    const cache = new GraphCache();
    const [x, y] = [{}, {}];
    const base = await cache.get(x, 'base', async () => new FakeGraph(1, 'base'));
    const onTop = await cache.get(y, 'on top', async () => new FakeGraph(1, 'on top'), { dependsOn: [base] });
    const other = await cache.get(y, 'other', async () => new FakeGraph(1, 'other'));
    cache.release(x);
    expect(base.disposed).toBe(true);
    expect(onTop.disposed).toBe(true);
    expect(other.disposed).toBe(false);
    expect(cache.size).toBe(1);
  });

  it('disposes a graph whose owner was released while it compiled, and rejects its callers', async () => {
    const cache = new GraphCache();
    const owner = {};
    const gate = deferred<FakeGraph>();
    const pending = cache.get(owner, 's', () => gate.promise);
    cache.release(owner);
    const graph = new FakeGraph(5, 'late');
    gate.resolve(graph);
    await expect(pending).rejects.toBeInstanceOf(DisposedError);
    expect(graph.disposed).toBe(true);
    expect(cache.bytes).toBe(0);
  });

  it('forgets a failed compile so the next request tries again', async () => {
    const cache = new GraphCache();
    const owner = {};
    await expect(cache.get(owner, 's', async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
    expect(cache.size).toBe(0);
    const g = await cache.get(owner, 's', async () => new FakeGraph(1, 'ok'));
    expect(g.name).toBe('ok');
  });

  it('compiles again a graph its user disposed', async () => {
    const cache = new GraphCache();
    const owner = {};
    class Disposable extends FakeGraph {
      get isDisposed() {
        return this.disposed;
      }
    }
    const first = await cache.get(owner, 's', async () => new Disposable(1, 'first'));
    first.dispose();
    const second = await cache.get(owner, 's', async () => new Disposable(1, 'second'));
    expect(second.name).toBe('second');
  });

  it('rejects a budget that is not positive', () => {
    expect(() => new GraphCache({ maxBytes: 0 })).toThrow(InvalidArgumentError);
  });
});
