/** Interface language: choose (cookie, then the browser's Accept-Language), translate, interpolate. */
import { en, type MessageKey } from "./en";
import { ja } from "./ja";

export type { MessageKey };
export type Locale = "en" | "ja";
export const LOCALES: readonly Locale[] = ["en", "ja"];
export const DEFAULT_LOCALE: Locale = "en";
export const LOCALE_COOKIE = "lang";
export const LOCALE_STORAGE_KEY = "lang";

export const MESSAGES: Record<Locale, Record<MessageKey, string>> = { en, ja };

export function isLocale(value: unknown): value is Locale {
  return typeof value === "string" && (LOCALES as readonly string[]).includes(value);
}

/** The best supported locale for an Accept-Language header ("ja-JP,ja;q=0.9,en;q=0.8"). */
export function localeFromAcceptLanguage(header: string | null | undefined): Locale {
  if (!header) return DEFAULT_LOCALE;
  const ranked = header
    .split(",")
    .map((part, index) => {
      const [tag, ...params] = part.trim().split(";");
      const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
      const quality = q ? Number(q.slice(2)) : 1;
      return { tag: tag.trim().toLowerCase(), quality: Number.isFinite(quality) ? quality : 0, index };
    })
    .filter((entry) => entry.tag && entry.quality > 0)
    .sort((a, b) => b.quality - a.quality || a.index - b.index);
  for (const { tag } of ranked) {
    const base = tag.split("-")[0];
    if (isLocale(base)) return base;
  }
  return DEFAULT_LOCALE;
}

/** The locale to render: a remembered choice wins over the browser's language. */
export function pickLocale(saved: string | null | undefined, acceptLanguage: string | null | undefined): Locale {
  return isLocale(saved) ? saved : localeFromAcceptLanguage(acceptLanguage);
}

export type Vars = Record<string, string | number>;

/** `{name}` placeholders replaced by `vars`; an unknown placeholder stays as written. */
export function interpolate(template: string, vars?: Vars): string {
  if (!vars) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) =>
    Object.prototype.hasOwnProperty.call(vars, name) ? String(vars[name]) : whole,
  );
}

export function translate(locale: Locale, key: MessageKey, vars?: Vars): string {
  const template = MESSAGES[locale][key] ?? MESSAGES[DEFAULT_LOCALE][key] ?? key;
  return interpolate(template, vars);
}

export type Translate = (key: MessageKey, vars?: Vars) => string;
