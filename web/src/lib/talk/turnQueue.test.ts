import { describe, expect, it } from "vitest";

import { TurnQueue, type DropReason } from "./turnQueue";

/** A queue whose work items resolve when the test says, with a log of what happened. */
function setup(maxWaiting = 3) {
  const log: string[] = [];
  const pending = new Map<number, { resolve: (v: string) => void; reject: (e: unknown) => void; signal: AbortSignal }>();
  const queue = new TurnQueue<number, string>({
    run: (item, signal) =>
      new Promise<string>((resolve, reject) => {
        pending.set(item, { resolve, reject, signal });
        log.push(`run ${item}`);
      }),
    started: (item) => log.push(`start ${item}`),
    done: (item, result) => log.push(`done ${item} ${result}`),
    failed: (item, err) => log.push(`failed ${item} ${String(err)}`),
    dropped: (item, why: DropReason) => log.push(`dropped ${item} ${why}`),
  }, maxWaiting);
  const flush = () => new Promise((r) => setTimeout(r, 0));
  return { log, pending, queue, flush };
}

describe("TurnQueue", () => {
  it("runs one item at a time, in order", async () => {
    const { log, pending, queue, flush } = setup();
    queue.push(1);
    queue.push(2);
    queue.push(3);
    expect(log).toEqual(["start 1", "run 1"]);
    expect(queue.waitingCount).toBe(2);
    pending.get(1)!.resolve("a");
    await flush();
    expect(log).toEqual(["start 1", "run 1", "done 1 a", "start 2", "run 2"]);
    pending.get(2)!.reject("boom");
    await flush();
    pending.get(3)!.resolve("c");
    await flush();
    expect(log.slice(5)).toEqual(["failed 2 boom", "start 3", "run 3", "done 3 c"]);
    expect(queue.busy).toBe(false);
    expect(queue.waitingCount).toBe(0);
  });

  it("drops the oldest waiting item beyond the limit, never the one in flight", async () => {
    const { log, pending, queue, flush } = setup(2);
    for (const n of [1, 2, 3, 4, 5]) queue.push(n);
    expect(log).toEqual(["start 1", "run 1", "dropped 2 overflow", "dropped 3 overflow"]);
    expect(queue.waitingCount).toBe(2);
    pending.get(1)!.resolve("a");
    await flush();
    pending.get(4)!.resolve("d");
    await flush();
    pending.get(5)!.resolve("e");
    await flush();
    expect(log.filter((l) => l.startsWith("done"))).toEqual(["done 1 a", "done 4 d", "done 5 e"]);
  });

  it("stops after close: waiting items dropped, the one in flight finishes or is aborted", async () => {
    const { log, pending, queue, flush } = setup();
    queue.push(1);
    queue.push(2);
    queue.close();
    expect(log).toContain("dropped 2 closed");
    expect(queue.push(3)).toBe(false);
    expect(log).toContain("dropped 3 closed");
    pending.get(1)!.resolve("a");
    await flush();
    expect(log).toContain("done 1 a");
    expect(pending.has(2)).toBe(false);

    const second = setup();
    second.queue.push(1);
    second.queue.close(true);
    expect(second.pending.get(1)!.signal.aborted).toBe(true);
  });

  it("lets a failure handler close the queue so nothing more is sent", async () => {
    const log: string[] = [];
    let calls = 0;
    const queue: TurnQueue<number, string> = new TurnQueue<number, string>({
      run: async () => {
        calls += 1;
        throw new Error("unavailable");
      },
      done: () => log.push("done"),
      failed: (item) => {
        log.push(`failed ${item}`);
        queue.close();
      },
      dropped: (item, why) => log.push(`dropped ${item} ${why}`),
    });
    queue.push(1);
    queue.push(2);
    queue.push(3);
    await new Promise((r) => setTimeout(r, 0));
    expect(calls).toBe(1);
    expect(log).toEqual(["failed 1", "dropped 2 closed", "dropped 3 closed"]);
  });

  it("reports a run that throws synchronously as a failure", async () => {
    const log: string[] = [];
    const queue = new TurnQueue<number, string>({
      run: () => {
        throw new Error("sync");
      },
      done: () => log.push("done"),
      failed: (item, err) => log.push(`failed ${item} ${(err as Error).message}`),
      dropped: () => log.push("dropped"),
    });
    queue.push(7);
    await new Promise((r) => setTimeout(r, 0));
    expect(log).toEqual(["failed 7 sync"]);
  });
});
