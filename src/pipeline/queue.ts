import { PipelineBusyError } from '../errors.js';
import type { BusyPolicy } from './types.js';

/**
 * Generations run one at a time, in call order. `reject` refuses a call while any runs or waits;
 * `abort-and-queue` aborts the running one (its promise rejects with an AbortError) and queues
 * the new call behind it. Each job gets a signal that fires on the caller's abort or a supersede.
 */
export class GenerationQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private pending = 0;
  private running: AbortController | null = null;

  constructor(private readonly policy: BusyPolicy) {}

  get size(): number {
    return this.pending;
  }

  run<T>(job: (signal: AbortSignal) => Promise<T>, outer?: AbortSignal): Promise<T> {
    if (this.policy === 'reject' && this.pending > 0) return Promise.reject(new PipelineBusyError(this.pending));
    if (this.policy === 'abort-and-queue') this.running?.abort(new DOMException('superseded by a newer generate call (busyPolicy "abort-and-queue")', 'AbortError'));
    const controller = new AbortController();
    const forward = (): void => controller.abort(outer?.reason);
    if (outer?.aborted) forward();
    else outer?.addEventListener('abort', forward, { once: true });
    this.pending++;
    const result = this.tail.then(async () => {
      this.running = controller;
      try {
        controller.signal.throwIfAborted();
        return await job(controller.signal);
      } finally {
        this.running = null;
        this.pending--;
        outer?.removeEventListener('abort', forward);
      }
    });
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Aborts the running job and every queued one (dispose). */
  abortAll(reason: unknown): void {
    this.running?.abort(reason);
  }

  /** Resolves once every queued job has settled. */
  idle(): Promise<unknown> {
    return this.tail;
  }
}
