import type { Metadata, Viewport } from "next";
import { cookies, headers } from "next/headers";

import { AppProvider } from "@/components/AppProvider";
import { Header } from "@/components/Header";
import { ReadinessProvider } from "@/components/ReadinessProvider";
import { LOCALE_COOKIE, isLocale, pickLocale } from "@/lib/i18n";
import { readPublicSettings } from "@/lib/settings";

import "./globals.css";

export const metadata: Metadata = {
  title: "Local AI Studio",
  description: "Chat, voice feedback and form-field detection with local models",
  icons: { icon: "/favicon.svg" },
};

export const viewport: Viewport = {
  width: "device-width",
  initialScale: 1,
  themeColor: [
    { media: "(prefers-color-scheme: light)", color: "#ffffff" },
    { media: "(prefers-color-scheme: dark)", color: "#0f172a" },
  ],
};

export default async function RootLayout({ children }: { children: React.ReactNode }) {
  // Read per request: the saved language (cookie) or the browser's, and the run-time settings.
  const saved = (await cookies()).get(LOCALE_COOKIE)?.value;
  const locale = pickLocale(saved, (await headers()).get("accept-language"));
  const settings = readPublicSettings(process.env);
  return (
    <html lang={locale}>
      <body className="flex h-dvh flex-col">
        <AppProvider initialLocale={locale} hasSavedLocale={isLocale(saved)} settings={settings}>
          <ReadinessProvider>
            <Header />
            <main id="main" tabIndex={-1} className="flex min-h-0 flex-1 flex-col overflow-y-auto focus:outline-none">
              {children}
            </main>
          </ReadinessProvider>
        </AppProvider>
      </body>
    </html>
  );
}
