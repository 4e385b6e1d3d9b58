"""A person on a phone, with only a keyboard, or with a dark system theme can use every page."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.web.conftest import Stack, axe_violations

pytestmark = pytest.mark.e2e

PAGES = ("chat", "voice", "detect", "talk")


def test_every_page_fits_a_phone(page: Page, fresh: Stack, shot) -> None:
    page.set_viewport_size({"width": 390, "height": 844})
    for name in PAGES:
        page.goto(f"{fresh.web.url}/{name}")
        expect(page.get_by_test_id("status-indicator")).not_to_have_attribute("data-status", "checking")
        overflow = page.evaluate(
            "() => [document.documentElement.scrollWidth, window.innerWidth,"
            " document.querySelector('main').scrollWidth, document.querySelector('main').clientWidth]")
        assert overflow[0] <= overflow[1], f"/{name} scrolls sideways on a phone: {overflow}"
        assert overflow[2] <= overflow[3], f"/{name} content is wider than a phone: {overflow}"
        # Every link and button in the header is on screen (the 1-px skip link is off screen until focused).
        for control in page.locator("header a, header button").all():
            box = control.bounding_box()
            if control.is_visible() and box and box["width"] > 1:
                assert box["x"] >= 0 and box["x"] + box["width"] <= 390 + 0.5, control
        shot(page, f"phone-{name}")

    page.goto(f"{fresh.web.url}/chat")
    page.get_by_role("button", name="Show chats").click()
    expect(page.get_by_test_id("new-chat")).to_be_visible()
    shot(page, "phone-chat-sessions")
    expect(page.get_by_role("button", name="Hide chats")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_test_id("new-chat")).to_be_hidden()
    page.get_by_role("button", name="Show chats").click()
    page.get_by_role("button", name="Hide chats").click()
    expect(page.get_by_test_id("new-chat")).to_be_hidden()


def test_chat_by_keyboard_alone(page: Page, fresh: Stack) -> None:
    page.goto(f"{fresh.web.url}/chat")
    expect(page.get_by_test_id("model-select")).to_be_enabled()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    # Focus is always visible: an outline on the focused control.
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"

    box = page.get_by_test_id("chat-input")
    for _ in range(40):
        if box.evaluate("el => el === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(box).to_be_focused()
    page.keyboard.type("typed with the keyboard")
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("assistant-message").last).to_have_attribute("data-status", "done")
    expect(page.get_by_test_id("assistant-message").last).to_contain_text("typed with the keyboard")


def test_status_details_open_by_keyboard(page: Page, stack: Stack) -> None:
    page.goto(f"{stack.web.url}/voice")
    indicator = page.get_by_test_id("status-indicator")
    indicator.focus()
    page.keyboard.press("Enter")
    expect(indicator).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("region", name="Service status details")).to_be_visible()
    page.keyboard.press("Escape")
    expect(indicator).to_have_attribute("aria-expanded", "false")


def test_dark_theme(page: Page, fresh: Stack, shot) -> None:
    page.emulate_media(color_scheme="dark")
    page.goto(f"{fresh.web.url}/chat")
    page.get_by_test_id("new-chat").click()
    page.get_by_test_id("chat-input").fill("Dark mode: a list\n\n- one\n- two\n\n```\ncode block\n```")
    page.get_by_test_id("send-button").click()
    expect(page.get_by_test_id("assistant-message").last).to_have_attribute("data-status", "done")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background != "rgb(248, 250, 252)", "the dark theme did not apply"
    shot(page, "chat-dark")
    page.emulate_media(color_scheme="light")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_pages_pass_automated_accessibility_checks(page: Page, fresh: Stack, scheme: str) -> None:
    page.emulate_media(color_scheme=scheme)
    page.goto(f"{fresh.web.url}/chat")
    page.get_by_test_id("new-chat").click()
    page.get_by_test_id("chat-input").fill("A *short* answer with `code`")
    page.get_by_test_id("chat-input").press("Enter")
    expect(page.get_by_test_id("assistant-message").last).to_have_attribute("data-status", "done")
    page.get_by_test_id("params-toggle").click()
    page.get_by_test_id("status-indicator").click()
    problems = {"chat": axe_violations(page)}
    for name in ("voice", "detect"):
        page.goto(f"{fresh.web.url}/{name}")
        expect(page.get_by_test_id("status-indicator")).not_to_have_attribute("data-status", "checking")
        problems[name] = axe_violations(page)
    page.emulate_media(color_scheme="light")
    assert problems == {"chat": [], "voice": [], "detect": []}
