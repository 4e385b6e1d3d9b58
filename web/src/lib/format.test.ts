import { describe, expect, it } from "vitest";

import { formatBytes, formatClock, formatMs, formatRate, percent, tokensPerSecond } from "./format";

describe("formatMs", () => {
  it.each([
    [0, "0 ms"],
    [12.4, "12 ms"],
    [999, "999 ms"],
    [1234, "1.23 s"],
    [12_345, "12.3 s"],
    [60_000, "1 min"],
    [75_400, "1 min 15 s"],
    [600_000, "10 min"],
  ])("%s ms → %s", (ms, text) => {
    expect(formatMs(ms)).toBe(text);
  });

  it("shows a dash for unknown values", () => {
    expect(formatMs(null)).toBe("—");
    expect(formatMs(undefined)).toBe("—");
    expect(formatMs(Number.NaN)).toBe("—");
    expect(formatMs(-5)).toBe("—");
  });
});

describe("formatClock", () => {
  it("formats a recording timer", () => {
    expect(formatClock(0)).toBe("00:00");
    expect(formatClock(5.9)).toBe("00:05");
    expect(formatClock(65.4)).toBe("01:05");
    expect(formatClock(120)).toBe("02:00");
    expect(formatClock(Number.NaN)).toBe("00:00");
  });
});

describe("tokensPerSecond", () => {
  it("divides tokens by seconds", () => {
    expect(tokensPerSecond(50, 2000)).toBe(25);
  });

  it("measures after the first token when its time is known", () => {
    // 11 tokens, first at 1 s, last at 3 s: 10 tokens in 2 s.
    expect(tokensPerSecond(11, 3000, 1000)).toBe(5);
  });

  it("gives null when it cannot be known", () => {
    expect(tokensPerSecond(0, 1000)).toBeNull();
    expect(tokensPerSecond(null, 1000)).toBeNull();
    expect(tokensPerSecond(10, null)).toBeNull();
    expect(tokensPerSecond(10, 0)).toBeNull();
  });
});

describe("formatRate", () => {
  it("rounds for reading", () => {
    expect(formatRate(12.345)).toBe("12.3 tok/s");
    expect(formatRate(123.4)).toBe("123 tok/s");
    expect(formatRate(null)).toBe("—");
  });
});

describe("formatBytes and percent", () => {
  it("uses binary units", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(1_600_000_000)).toBe("1.5 GiB");
    expect(formatBytes(null)).toBe("—");
  });

  it("computes pull progress", () => {
    expect(percent(50, 200)).toBe(25);
    expect(percent(300, 200)).toBe(100);
    expect(percent(10, 0)).toBeNull();
    expect(percent(null, 100)).toBeNull();
  });
});
