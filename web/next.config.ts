import type { NextConfig } from "next";

const nextConfig: NextConfig = {
  // A self-contained server (node .next/standalone/server.js) for the Docker image.
  output: "standalone",
  // This folder is the whole app: keep file tracing (and Turbopack) from looking above it.
  outputFileTracingRoot: __dirname,
  turbopack: { root: __dirname },
  // NDJSON answers must reach the browser line by line; compression would batch them.
  compress: false,
  poweredByHeader: false,
  reactStrictMode: true,
};

export default nextConfig;
