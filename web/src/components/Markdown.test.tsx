import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";

import { DEFAULT_SETTINGS } from "@/lib/settings";

import { AppProvider } from "./AppProvider";
import { Markdown } from "./Markdown";

const render = (text: string) =>
  renderToStaticMarkup(
    <AppProvider initialLocale="en" hasSavedLocale settings={DEFAULT_SETTINGS}>
      <Markdown text={text} />
    </AppProvider>,
  );

describe("Markdown", () => {
  it("renders lists, code blocks and tables", () => {
    const html = render("- one\n- two\n\n```python\nprint('hi')\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n");
    expect(html).toContain("<ul>");
    expect(html).toContain("<li>one</li>");
    expect(html).toContain('<code class="language-python">');
    expect(html).toContain("<table>");
  });

  it("never injects raw HTML", () => {
    const html = render('Hi <script>alert(1)</script> <img src=x onerror="alert(2)"> **bold**');
    expect(html).not.toContain("<script");
    expect(html).not.toContain("<img");
    expect(html).toContain("<strong>bold</strong>");
  });

  it("drops javascript: links", () => {
    const html = render("[click](javascript:alert(1))");
    expect(html).not.toContain("javascript:");
  });
});
