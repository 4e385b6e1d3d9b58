/** The web server's own liveness check (used by the image's HEALTHCHECK); it does not ask the llm-api. */
export const dynamic = "force-dynamic";

export function GET() {
  return Response.json({ status: "ok" }, { headers: { "cache-control": "no-store" } });
}
