"use client";

import { boxToPercent, type ImageSize } from "@/lib/boxes";
import type { DetectedBox } from "@/lib/types";

/**
 * The image with its detected boxes on top. Boxes are placed in percent of the image as uploaded
 * (bbox_pixel / image_size), so they stay on their fields at any display size without measuring.
 */
export function BoxOverlay({
  src,
  alt,
  boxes,
  imageSize,
  active,
  onActive,
}: {
  src: string;
  alt: string;
  boxes: DetectedBox[];
  imageSize: ImageSize | null;
  active: number | null;
  onActive: (index: number | null) => void;
}) {
  return (
    <div className="relative inline-block max-w-full align-top" data-testid="detect-image">
      {/* eslint-disable-next-line @next/next/no-img-element -- a local blob: URL, not an optimizable asset */}
      <img src={src} alt={alt} className="block h-auto max-h-[75vh] w-auto max-w-full rounded-lg" />
      {imageSize &&
        boxes.map((box, index) => {
          const p = boxToPercent(box.bbox_pixel, imageSize);
          if (!p) return null;
          const on = active === index;
          return (
            <div
              key={index}
              aria-hidden
              data-testid="detect-box"
              data-active={on}
              onMouseEnter={() => onActive(index)}
              onMouseLeave={() => onActive(null)}
              className={`absolute border-2 transition-colors ${
                on ? "z-10 border-amber-500 bg-amber-400/25" : "border-indigo-600 bg-indigo-500/10"
              }`}
              style={{ left: `${p.left}%`, top: `${p.top}%`, width: `${p.width}%`, height: `${p.height}%` }}
            >
              <span
                className={`absolute -left-0.5 -top-5 rounded px-1 text-xs font-bold leading-4 text-white ${on ? "bg-amber-600" : "bg-indigo-600"}`}
              >
                {index + 1}
              </span>
            </div>
          );
        })}
    </div>
  );
}
