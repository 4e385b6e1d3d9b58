"""The detector's answer parser on realistic model answers."""

import pytest

from model_worker.bbox_parser import parse_boxes, reading_order, to_pixels

WELL_FORMED = '{"applicant_fields": [{"bbox": [120, 80, 460, 130]}, {"bbox": [120, 200, 880, 260]}], "count": 2}'


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (WELL_FORMED, [(120, 80, 460, 130), (120, 200, 880, 260)]),
        (f"```json\n{WELL_FORMED}\n```", [(120, 80, 460, 130), (120, 200, 880, 260)]),
        (f"以下が検出結果です。\n```\n{WELL_FORMED}\n```\n以上です。", [(120, 80, 460, 130), (120, 200, 880, 260)]),
        (f"Here are the fields: {WELL_FORMED} Hope this helps.", [(120, 80, 460, 130), (120, 200, 880, 260)]),
        ('[{"bbox_2d": [10, 20, 30, 40], "label": "name"}]', [(10, 20, 30, 40)]),
        ('{"fields": [{"bbox_0100": [1, 2, 3, 4]}, {"bbox_01000": [5, 6, 7, 8]}]}', [(1, 2, 3, 4), (5, 6, 7, 8)]),
        ('{"results": [{"bbox_0_to_1000": [100, 100, 200, 150]}]}', [(100, 100, 200, 150)]),
        ("[[10, 10, 50, 50], [60, 10, 90, 50]]", [(10, 10, 50, 50), (60, 10, 90, 50)]),
        ('{"applicant_fields": [{"bbox": [1, 2, 300, 400]}, {"bbox": [5, 500, 6', [(1, 2, 300, 400)]),
        ('{"applicant_fields": [{"bbox": [460, 130, 120, 80]}]}', [(120, 80, 460, 130)]),
        ('{"applicant_fields": [{"bbox": [-20, 10, 1200, 90]}]}', [(0, 10, 1000, 90)]),
        ('{"applicant_fields": [{"bbox": [10.4, 20.6, 30.2, 40.9]}]}', [(10, 21, 30, 41)]),
        ('{"applicant_fields": [{"bbox": [0.1, 0.2, 0.35, 0.4]}]}', [(100, 200, 350, 400)]),
        ('{"applicant_fields": [{"bbox": ["100", "200", "300", "400"]}]}', [(100, 200, 300, 400)]),
        ("The box is at [100, 200, 300, 400] and another at [500,600,700,800].", [(100, 200, 300, 400),
                                                                                  (500, 600, 700, 800)]),
        ('{"applicant_fields": [{"bbox": [100, 100, 100, 200]}, {"bbox": [5, 5, 50, 50]}]}', [(5, 5, 50, 50)]),
        ('{"applicant_fields": [{"bbox": [5, 5, 50, 50]}, {"bbox": [5, 5, 50, 50]}]}', [(5, 5, 50, 50)]),
        ('{"applicant_fields": [{"x1": 1, "y1": 2, "x2": 30, "y2": 40}]}', [(1, 2, 30, 40)]),
        ('{"applicant_fields": [], "count": 0}', []),
        ("", []),
        ("I cannot find any fields in this document.", []),
        ("{{{{ ]]]] [1, 2, three, 4]", []),
        ('{"applicant_fields": [{"bbox": [1, 2, 3]}, {"bbox": "none"}]}', []),
    ],
)
def test_parse_boxes(answer, expected):
    assert parse_boxes(answer) == expected


def test_reading_order_groups_rows_then_left_to_right():
    boxes = [(500, 105, 900, 150), (100, 300, 400, 350), (100, 100, 400, 160), (600, 310, 900, 340)]
    assert reading_order(boxes) == [
        (100, 100, 400, 160), (500, 105, 900, 150), (100, 300, 400, 350), (600, 310, 900, 340),
    ]


def test_parsed_boxes_come_out_in_reading_order():
    answer = '[{"bbox": [600, 500, 900, 550]}, {"bbox": [100, 100, 300, 150]}, {"bbox": [100, 500, 400, 560]}]'
    assert parse_boxes(answer) == [(100, 100, 300, 150), (100, 500, 400, 560), (600, 500, 900, 550)]


@pytest.mark.parametrize(
    ("box", "size", "pixels"),
    [
        ((0, 0, 1000, 1000), (1400, 900), [0, 0, 1400, 900]),
        ((100, 200, 500, 600), (1400, 900), [140, 180, 700, 540]),
        ((999, 999, 1000, 1000), (10, 10), [9, 9, 10, 10]),
        ((0, 0, 1, 1), (100, 100), [0, 0, 1, 1]),
    ],
)
def test_to_pixels_maps_to_the_uploaded_size(box, size, pixels):
    result = to_pixels(box, *size)
    assert result == pixels
    assert 0 <= result[0] < result[2] <= size[0] and 0 <= result[1] < result[3] <= size[1]
