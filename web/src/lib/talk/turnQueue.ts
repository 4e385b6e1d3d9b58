/**
 * The person's turns waiting to be transcribed: one request at a time, in the order the turns ended, so a
 * slow worker never has several requests piling up. At most `maxWaiting` wait behind the one in flight; a
 * newer turn pushes out the oldest waiting one (it is reported dropped, so the page can say so). Closing
 * drops whatever waits (and, when asked, aborts the request in flight). Pure: the request is `run`.
 */

export type DropReason = "overflow" | "closed";

export interface QueueHandlers<T, R> {
  /** Do the work for one item; `signal` aborts when the queue is closed with `abort`. */
  run(item: T, signal: AbortSignal): Promise<R>;
  /** The item is being worked on (it left the waiting line). */
  started?(item: T): void;
  done(item: T, result: R): void;
  failed(item: T, error: unknown): void;
  dropped(item: T, why: DropReason): void;
}

export const MAX_WAITING = 3;

export class TurnQueue<T, R> {
  private readonly waiting: T[] = [];
  private running: { item: T; controller: AbortController } | null = null;
  private closed = false;

  constructor(
    private readonly handlers: QueueHandlers<T, R>,
    readonly maxWaiting = MAX_WAITING,
  ) {}

  /** Items waiting (not counting the one in flight). */
  get waitingCount(): number {
    return this.waiting.length;
  }

  get busy(): boolean {
    return this.running !== null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Add an item; false (and the item reported dropped) when the queue is closed. */
  push(item: T): boolean {
    if (this.closed) {
      this.handlers.dropped(item, "closed");
      return false;
    }
    this.waiting.push(item);
    while (this.waiting.length > this.maxWaiting) this.handlers.dropped(this.waiting.shift() as T, "overflow");
    this.pump();
    return true;
  }

  /** No more work: waiting items are dropped; the one in flight is aborted when `abort`, else it finishes. */
  close(abort = false): void {
    if (this.closed) return;
    this.closed = true;
    for (const item of this.waiting.splice(0)) this.handlers.dropped(item, "closed");
    if (abort) this.running?.controller.abort();
  }

  private pump(): void {
    if (this.running || this.closed) return;
    const item = this.waiting.shift();
    if (item === undefined) return;
    const controller = new AbortController();
    this.running = { item, controller };
    this.handlers.started?.(item);
    let work: Promise<R>;
    try {
      work = this.handlers.run(item, controller.signal);
    } catch (err) {
      work = Promise.reject(err);
    }
    work.then(
      (result) => this.settle(() => this.handlers.done(item, result)),
      (err: unknown) => this.settle(() => this.handlers.failed(item, err)),
    );
  }

  private settle(report: () => void): void {
    this.running = null;
    report(); // may close the queue (a failure that ends transcription): then nothing more starts
    this.pump();
  }
}
