// The web image's entry point (Dockerfile CMD): Next's standalone server.js, with the WebSocket pass-through
// for /realtime/* (realtime-upgrade.mjs) attached to the HTTP server that Next creates. Next has no hook for
// that server, so http.createServer is wrapped for the one call server.js makes, then put back; server.js is
// imported only after that (a static import would run first).
import http from "node:http";

import { attachRealtimeUpgrade } from "./realtime-upgrade.mjs";

const createServer = http.createServer;
http.createServer = function createServerWithRealtime(...args) {
  http.createServer = createServer;
  return attachRealtimeUpgrade(createServer.apply(this, args));
};

await import("./server.js");
