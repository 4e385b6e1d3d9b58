// Make .next/standalone a complete app: `node .next/standalone/start.mjs` then serves the
// static assets and public files too (Next.js leaves copying them to the deployer), and passes the
// Talk page's WebSocket (/realtime/*) to the llm-api (server/start.mjs wraps Next's server.js).
import { copyFileSync, cpSync, existsSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const standalone = path.join(root, ".next", "standalone");
if (!existsSync(path.join(standalone, "server.js"))) {
  console.error("postbuild: .next/standalone/server.js is missing; is output: 'standalone' set?");
  process.exit(1);
}
for (const [from, to] of [
  [path.join(root, ".next", "static"), path.join(standalone, ".next", "static")],
  [path.join(root, "public"), path.join(standalone, "public")],
]) {
  rmSync(to, { recursive: true, force: true });
  if (existsSync(from)) cpSync(from, to, { recursive: true });
}
const serverDir = path.join(root, "server");
for (const name of readdirSync(serverDir).filter((n) => n.endsWith(".mjs") && !n.endsWith(".d.mts"))) {
  copyFileSync(path.join(serverDir, name), path.join(standalone, name));
}
console.log("postbuild: copied .next/static, public and server/*.mjs into .next/standalone");
