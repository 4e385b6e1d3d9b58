"""Turning the detector's free-text answer into boxes, whatever shape the model chose to write them in.

The adapter was trained to answer `{"applicant_fields": [{"bbox": [x1, y1, x2, y2]}], "count": n}` with
coordinates normalised to 0-1000, but a generative model also writes fenced JSON, prose around it, other key names
(`bbox_2d`, `bbox_0100`, ...), bare lists, and JSON cut off at the token limit. `parse_boxes` accepts all of these
and returns clean boxes: 0-1000, corners ordered, clamped, degenerate ones dropped, in reading order.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable

BOX_KEYS = ("bbox", "bbox_2d", "bbox_0100", "bbox_01000", "bbox_0_to_1000", "box", "bounding_box", "coordinates")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)(?:```|$)", re.DOTALL)
_NUMBER = r"-?\d+(?:\.\d+)?"
_BARE_BOX = re.compile(rf"\[\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*\]")

Box = tuple[int, int, int, int]


def parse_boxes(text: str) -> list[Box]:
    """Boxes in 0-1000 coordinates, reading order. Unparsable text gives an empty list, never an error."""
    raw = _boxes_from_json(text)
    if not raw:
        raw = [tuple(float(v) for v in match) for match in _BARE_BOX.findall(text)]
    return _clean(raw)


def _json_candidates(text: str) -> Iterable[object]:
    """Every JSON value in the text (inside code fences first), the last one repaired if it was cut off."""
    fenced = [m.group(1) for m in _FENCE.finditer(text)]
    decoder = json.JSONDecoder()
    for piece in [*fenced, text] if fenced else [text]:
        position = 0
        while True:
            starts = [i for i in (piece.find("{", position), piece.find("[", position)) if i >= 0]
            if not starts:
                break
            start = min(starts)
            try:
                value, end = decoder.raw_decode(piece, start)
            except json.JSONDecodeError:
                repaired = _repair_truncated(piece[start:])
                if repaired is not None:
                    yield repaired
                    break
                position = start + 1
                continue
            yield value
            position = end


def _repair_truncated(chunk: str) -> object | None:
    """Close a JSON document cut off mid-way (the model hit its token limit): keep every complete item."""
    for end in range(len(chunk), 0, -1):
        if chunk[end - 1] not in "]}0123456789\"":
            continue
        head = chunk[:end]
        closers = _closers(head)
        if closers is None:
            continue
        try:
            return json.loads(head + closers)
        except json.JSONDecodeError:
            continue
    return None


def _closers(head: str) -> str | None:
    stack: list[str] = []
    in_string = escaped = False
    for char in head:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            stack.append("]" if char == "[" else "}")
        elif char in "]}" and (not stack or stack.pop() != char):
            return None
    if in_string:
        return None
    return "".join(reversed(stack))


def _boxes_from_json(text: str) -> list[tuple[float, ...]]:
    boxes: list[tuple[float, ...]] = []
    for value in _json_candidates(text):
        boxes.extend(_walk(value))
    return boxes


def _as_box(value: object) -> tuple[float, ...] | None:
    if isinstance(value, (list, tuple)) and len(value) == 4:
        try:
            numbers = tuple(float(v) for v in value)
        except (TypeError, ValueError):
            return None
        if all(math.isfinite(n) for n in numbers):
            return numbers
    return None


def _walk(value: object) -> Iterable[tuple[float, ...]]:
    """Every box in a parsed JSON value: objects with a box key, or bare 4-number lists, at any depth."""
    if isinstance(value, dict):
        for key in BOX_KEYS:
            if key in value:
                box = _as_box(value[key])
                if box is not None:
                    yield box
                    return
        if {"x1", "y1", "x2", "y2"} <= value.keys():
            box = _as_box([value["x1"], value["y1"], value["x2"], value["y2"]])
            if box is not None:
                yield box
                return
        for child in value.values():
            if isinstance(child, (list, dict)):
                yield from _walk(child)
    elif isinstance(value, list):
        box = _as_box(value)
        if box is not None:
            yield box
            return
        for child in value:
            yield from _walk(child)


def _clean(raw: list[tuple[float, ...]]) -> list[Box]:
    # Coordinates all within 0-1 are fractions of the image (some models answer that way): scale to 0-1000.
    if raw and all(0.0 <= v <= 1.0 for box in raw for v in box) and any(
        isinstance(v, float) and v % 1 for box in raw for v in box
    ):
        raw = [tuple(v * 1000 for v in box) for box in raw]
    boxes: list[Box] = []
    for x1, y1, x2, y2 in raw:
        x1, x2 = sorted((x1, x2))
        y1, y2 = sorted((y1, y2))
        box = tuple(round(min(max(v, 0.0), 1000.0)) for v in (x1, y1, x2, y2))
        if box[2] - box[0] < 1 or box[3] - box[1] < 1:
            continue
        if box not in boxes:
            boxes.append(box)
    return reading_order(boxes)


def reading_order(boxes: list[Box]) -> list[Box]:
    """Top to bottom by rows, left to right within a row (a box whose vertical centre lies within the first
    box of the current row belongs to that row)."""
    rows: list[list[Box]] = []
    for box in sorted(boxes, key=lambda b: (b[1], b[0])):
        centre = (box[1] + box[3]) / 2
        if rows and rows[-1][0][1] <= centre <= rows[-1][0][3]:
            rows[-1].append(box)
        else:
            rows.append([box])
    return [box for row in rows for box in sorted(row, key=lambda b: (b[0], b[1]))]


def to_pixels(box: Box, width: int, height: int) -> list[int]:
    """A 0-1000 box in pixels of a `width` x `height` image, kept inside it and at least one pixel wide."""
    x1 = min(int(box[0] * width / 1000), width - 1)
    y1 = min(int(box[1] * height / 1000), height - 1)
    x2 = max(min(math.ceil(box[2] * width / 1000), width), x1 + 1)
    y2 = max(min(math.ceil(box[3] * height / 1000), height), y1 + 1)
    return [x1, y1, x2, y2]
