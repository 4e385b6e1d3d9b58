import { afterEach, describe, expect, it, vi } from "vitest";

import { readStored, writeStored } from "./storage";

function memoryStorage() {
  const data = new Map<string, string>();
  return {
    getItem: (k: string) => data.get(k) ?? null,
    setItem: (k: string, v: string) => void data.set(k, v),
    removeItem: (k: string) => void data.delete(k),
  };
}

afterEach(() => vi.unstubAllGlobals());

describe("readStored / writeStored", () => {
  it("saves, reads and forgets a key", () => {
    vi.stubGlobal("localStorage", memoryStorage());
    expect(readStored("a")).toBeNull();
    writeStored("a", "1");
    expect(readStored("a")).toBe("1");
    writeStored("a", null);
    expect(readStored("a")).toBeNull();
  });

  it("never throws when storage is blocked or missing", () => {
    const blocked = () => {
      throw new Error("SecurityError");
    };
    vi.stubGlobal("localStorage", { getItem: blocked, setItem: blocked, removeItem: blocked });
    expect(readStored("a")).toBeNull();
    expect(() => writeStored("a", "1")).not.toThrow();
    expect(() => writeStored("a", null)).not.toThrow();
    vi.stubGlobal("localStorage", undefined);
    expect(readStored("a")).toBeNull();
    expect(() => writeStored("a", "1")).not.toThrow();
  });
});
