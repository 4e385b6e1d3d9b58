"use client";

/** Last resort when the root layout itself fails: plain, bilingual, no app context needed. */
export default function GlobalError({ error, reset }: { error: Error & { digest?: string }; reset: () => void }) {
  return (
    <html lang="en">
      <body style={{ fontFamily: "system-ui, sans-serif", padding: "2rem", maxWidth: "40rem", margin: "0 auto" }}>
        <h1>Something went wrong / 問題が発生しました</h1>
        <p>The page could not be shown. Your chats are safe on the server. / ページを表示できませんでした。チャットはサーバーに保存されています。</p>
        <p style={{ color: "#475569" }}>{error.digest ?? error.message}</p>
        <button type="button" onClick={reset} style={{ padding: "0.5rem 1rem" }}>
          Try again / 再試行
        </button>
      </body>
    </html>
  );
}
