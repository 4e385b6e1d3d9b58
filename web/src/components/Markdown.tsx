"use client";

import { memo, useState } from "react";
import ReactMarkdown, { type Components } from "react-markdown";
import remarkGfm from "remark-gfm";

import { useApp } from "./AppProvider";

function CodeBlock({ children, ...props }: React.ComponentProps<"pre">) {
  const { t } = useApp();
  const [copied, setCopied] = useState(false);
  const copy = async (event: React.MouseEvent<HTMLButtonElement>) => {
    const text = event.currentTarget.parentElement?.querySelector("code")?.textContent ?? "";
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      setTimeout(() => setCopied(false), 1500);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div className="group relative">
      <pre {...props}>{children}</pre>
      <button type="button" onClick={copy} className="code-copy">
        {copied ? t("common.copied") : t("common.copy")}
      </button>
    </div>
  );
}

const components: Components = {
  pre: ({ node: _node, ...props }) => <CodeBlock {...props} />,
  a: ({ node: _node, ...props }) => <a {...props} target="_blank" rel="noopener noreferrer" />,
};

/**
 * Model output as Markdown (GFM: tables, lists, code). Raw HTML in the text is shown as text, never
 * rendered (no rehype-raw), and unsafe link schemes are dropped by react-markdown's default urlTransform.
 */
export const Markdown = memo(function Markdown({ text, streaming = false }: { text: string; streaming?: boolean }) {
  return (
    <div className={streaming ? "markdown streaming" : "markdown"}>
      <ReactMarkdown remarkPlugins={[remarkGfm]} components={components}>
        {text}
      </ReactMarkdown>
    </div>
  );
});
