/** Types of realtime-upgrade.mjs (plain JavaScript loaded by start.mjs beside Next's standalone server.js). */
import type { IncomingMessage, Server } from "node:http";
import type { Duplex } from "node:stream";

type Env = Record<string, string | undefined>;

export interface Upstream {
  base: string;
  secure: boolean;
  hostname: string;
  port: number;
  host: string;
  prefix: string;
}

export const MAX_HEAD_BYTES: number;
export function realtimeTarget(rawUrl: string | undefined): string | null;
export function upstreamFor(env: Env): Upstream;
export function upgradeHead(req: IncomingMessage, path: string, upstream: Upstream, env: Env, requestId: string): string | null;
export function passThrough(req: IncomingMessage, socket: Duplex, head: Buffer, path: string, env?: Env): void;
export function attachRealtimeUpgrade<S extends Server>(server: S, env?: Env): S;
