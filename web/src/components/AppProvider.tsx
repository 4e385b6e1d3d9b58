"use client";

import { createContext, useCallback, useContext, useEffect, useMemo, useState } from "react";

import {
  LOCALE_COOKIE,
  LOCALE_STORAGE_KEY,
  isLocale,
  translate,
  type Locale,
  type Translate,
} from "@/lib/i18n";
import type { PublicSettings } from "@/lib/settings";

interface AppContextValue {
  locale: Locale;
  setLocale: (locale: Locale) => void;
  t: Translate;
  settings: PublicSettings;
}

const AppContext = createContext<AppContextValue | null>(null);

export function AppProvider({
  initialLocale,
  hasSavedLocale,
  settings,
  children,
}: {
  initialLocale: Locale;
  hasSavedLocale: boolean;
  settings: PublicSettings;
  children: React.ReactNode;
}) {
  const [locale, setLocaleState] = useState<Locale>(initialLocale);

  const setLocale = useCallback((next: Locale) => {
    setLocaleState(next);
    try {
      localStorage.setItem(LOCALE_STORAGE_KEY, next);
    } catch {
      // Private mode: the cookie below still remembers the choice.
    }
    document.cookie = `${LOCALE_COOKIE}=${next}; path=/; max-age=31536000; samesite=lax`;
  }, []);

  // A choice kept in localStorage but not in the cookie (cleared cookies) still wins.
  useEffect(() => {
    if (hasSavedLocale) return;
    let saved: string | null = null;
    try {
      saved = localStorage.getItem(LOCALE_STORAGE_KEY);
    } catch {
      saved = null;
    }
    // Syncing from an external store (localStorage) that the server render could not see.
    // eslint-disable-next-line react-hooks/set-state-in-effect
    if (isLocale(saved) && saved !== initialLocale) setLocale(saved);
  }, [hasSavedLocale, initialLocale, setLocale]);

  useEffect(() => {
    document.documentElement.lang = locale;
  }, [locale]);

  const value = useMemo<AppContextValue>(
    () => ({ locale, setLocale, t: (key, vars) => translate(locale, key, vars), settings }),
    [locale, setLocale, settings],
  );
  return <AppContext.Provider value={value}>{children}</AppContext.Provider>;
}

export function useApp(): AppContextValue {
  const value = useContext(AppContext);
  if (!value) throw new Error("useApp must be used inside <AppProvider>");
  return value;
}
