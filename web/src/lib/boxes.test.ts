import { describe, expect, it } from "vitest";

import { boxToPercent, normalizedToPixel, scaleBox } from "./boxes";

describe("boxToPercent", () => {
  it("places a box in percent of the uploaded image", () => {
    expect(boxToPercent([100, 50, 300, 150], { width: 1000, height: 500 })).toEqual({
      left: 10,
      top: 10,
      width: 20,
      height: 20,
    });
  });

  it("covers the whole image for a full-size box", () => {
    expect(boxToPercent([0, 0, 640, 480], { width: 640, height: 480 })).toEqual({ left: 0, top: 0, width: 100, height: 100 });
  });

  it("clamps boxes that stick out of the image and orders swapped corners", () => {
    expect(boxToPercent([-20, 400, 250, 600], { width: 200, height: 500 })).toEqual({ left: 0, top: 80, width: 100, height: 20 });
    expect(boxToPercent([300, 150, 100, 50], { width: 1000, height: 500 })).toEqual({ left: 10, top: 10, width: 20, height: 20 });
  });

  it("refuses bad sizes and malformed boxes", () => {
    expect(boxToPercent([0, 0, 1, 1], { width: 0, height: 10 })).toBeNull();
    expect(boxToPercent([0, 0, 1], { width: 10, height: 10 })).toBeNull();
    expect(boxToPercent([0, Number.NaN, 1, 1], { width: 10, height: 10 })).toBeNull();
  });
});

describe("scaleBox", () => {
  it("maps uploaded pixels to the displayed size", () => {
    // A 4000x3000 photo shown 800x600: everything is divided by 5.
    expect(scaleBox([400, 300, 1400, 900], { width: 4000, height: 3000 }, { width: 800, height: 600 })).toEqual([80, 60, 280, 180]);
  });

  it("handles different x and y scales", () => {
    const [x1, y1, x2, y2] = scaleBox([50, 50, 150, 100], { width: 200, height: 100 }, { width: 100, height: 300 })!;
    expect([x1, y1, x2, y2]).toEqual([25, 150, 75, 300]);
  });
});

describe("normalizedToPixel", () => {
  it("converts 0-1000 coordinates to pixels", () => {
    expect(normalizedToPixel([100, 250, 500, 1000], { width: 2000, height: 800 })).toEqual([200, 200, 1000, 800]);
  });
});
