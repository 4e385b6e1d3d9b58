import { describe, expect, it } from "vitest";

import { DEFAULT_SETTINGS, readPublicSettings } from "./settings";

describe("readPublicSettings", () => {
  it("defaults to 10 minutes for model calls", () => {
    expect(readPublicSettings({})).toEqual(DEFAULT_SETTINGS);
    expect(DEFAULT_SETTINGS.modelTimeoutMs).toBe(600_000);
  });

  it("reads seconds from the environment", () => {
    expect(readPublicSettings({ WEB_MODEL_TIMEOUT_S: "1200", WEB_STATUS_TIMEOUT_S: "3", WEB_STATUS_POLL_S: "2.5" })).toEqual({
      modelTimeoutMs: 1_200_000,
      statusTimeoutMs: 3000,
      statusPollMs: 2500,
    });
  });

  it("ignores values that are not positive numbers", () => {
    expect(readPublicSettings({ WEB_MODEL_TIMEOUT_S: "ten", WEB_STATUS_TIMEOUT_S: "0", WEB_STATUS_POLL_S: "-1" })).toEqual(DEFAULT_SETTINGS);
  });
});
