import { describe, expect, it } from "vitest";

import { en } from "./en";
import { interpolate, localeFromAcceptLanguage, MESSAGES, pickLocale, translate } from "./index";
import { ja } from "./ja";

const placeholders = (text: string) => [...text.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();

describe("messages", () => {
  it("has every key in both languages and no extra ones", () => {
    expect(Object.keys(ja).sort()).toEqual(Object.keys(en).sort());
  });

  it("has no empty text", () => {
    for (const [locale, table] of Object.entries(MESSAGES)) {
      for (const [key, text] of Object.entries(table)) {
        expect(text.trim(), `${locale}:${key}`).not.toBe("");
      }
    }
  });

  it("uses the same placeholders in both languages", () => {
    for (const key of Object.keys(en) as (keyof typeof en)[]) {
      expect(placeholders(ja[key]), key).toEqual(placeholders(en[key]));
    }
  });

  it("is actually translated (Japanese text for interface words)", () => {
    expect(ja["chat.send"]).toBe("送信");
    expect(ja["nav.voice"]).not.toBe(en["nav.voice"]);
  });
});

describe("choosing the language", () => {
  it.each([
    ["ja-JP,ja;q=0.9,en-US;q=0.8", "ja"],
    ["en-US,en;q=0.9,ja;q=0.8", "en"],
    ["fr-FR,fr;q=0.9,ja;q=0.5", "ja"],
    ["de,fr", "en"],
    ["en;q=0.2,ja;q=0.8", "ja"],
    ["ja;q=0", "en"],
    ["", "en"],
  ])("Accept-Language %j → %s", (header, locale) => {
    expect(localeFromAcceptLanguage(header)).toBe(locale);
  });

  it("prefers a remembered choice", () => {
    expect(pickLocale("en", "ja-JP")).toBe("en");
    expect(pickLocale("ja", "en-US")).toBe("ja");
    expect(pickLocale("xx", "ja-JP")).toBe("ja");
    expect(pickLocale(undefined, null)).toBe("en");
  });
});

describe("translate", () => {
  it("fills placeholders", () => {
    expect(translate("en", "chat.messages_count", { count: 12 })).toBe("12 messages");
    expect(translate("ja", "chat.messages_count", { count: 12 })).toBe("12 件のメッセージ");
  });

  it("leaves unknown placeholders visible", () => {
    expect(interpolate("{a} and {b}", { a: 1 })).toBe("1 and {b}");
  });
});
