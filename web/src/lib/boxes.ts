/** Geometry for drawing detected form fields over an image shown at any size. */

export type Bbox = [number, number, number, number];

export interface ImageSize {
  width: number;
  height: number;
}

/** A box as CSS percentages of the displayed image (so it stays in place at any display size). */
export interface PercentBox {
  left: number;
  top: number;
  width: number;
  height: number;
}

const clamp = (value: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, value));

/**
 * `bbox` is [x1, y1, x2, y2] in pixels of the image as uploaded (`size`). Returns the box in
 * percent of that image, clamped to it, with corners put in order. Invalid sizes give null.
 */
export function boxToPercent(bbox: readonly number[], size: ImageSize): PercentBox | null {
  if (!(size.width > 0 && size.height > 0) || bbox.length !== 4 || !bbox.every(Number.isFinite)) {
    return null;
  }
  const [ax, ay, bx, by] = bbox;
  const x1 = clamp(Math.min(ax, bx), 0, size.width);
  const x2 = clamp(Math.max(ax, bx), 0, size.width);
  const y1 = clamp(Math.min(ay, by), 0, size.height);
  const y2 = clamp(Math.max(ay, by), 0, size.height);
  return {
    left: (x1 / size.width) * 100,
    top: (y1 / size.height) * 100,
    width: ((x2 - x1) / size.width) * 100,
    height: ((y2 - y1) / size.height) * 100,
  };
}

/** The same box in CSS pixels of an element that shows the image at `display` size. */
export function scaleBox(bbox: readonly number[], size: ImageSize, display: ImageSize): Bbox | null {
  const p = boxToPercent(bbox, size);
  if (!p) return null;
  const x1 = (p.left / 100) * display.width;
  const y1 = (p.top / 100) * display.height;
  return [x1, y1, x1 + (p.width / 100) * display.width, y1 + (p.height / 100) * display.height];
}

/** A box from 0-1000 normalized coordinates, for answers that carry only `bbox_normalized`. */
export function normalizedToPixel(bbox: readonly number[], size: ImageSize): Bbox {
  const [x1, y1, x2, y2] = bbox;
  return [
    Math.round((x1 / 1000) * size.width),
    Math.round((y1 / 1000) * size.height),
    Math.round((x2 / 1000) * size.width),
    Math.round((y2 / 1000) * size.height),
  ];
}
