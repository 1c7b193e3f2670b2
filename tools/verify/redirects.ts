/**
 * Plain HTTP: our routers exist only on the TLS entrypoint, so Traefik's own
 * static config must redirect `web` to `websecure` (docs/traefik.md). Opt-in
 * (`--check-redirects`): it needs the public hosts to resolve and answer from
 * where verify runs, which the Docker host alone does not promise.
 */
import http from "node:http";
import type { CheckResult } from "./checks";
import type { StackOutputs } from "./outputs";

export interface RedirectProbe {
  /** Where to connect to reach `host` over plain HTTP; the host itself on port 80 by default. */
  connect?: (host: string) => { host: string; port: number };
  timeoutMs?: number;
}

/** What a permanent redirect answers: 301 to GET and HEAD (308 to other methods), Traefik's pkg/middlewares/redirect/redirect.go. */
const PERMANENT = [301, 308];

function get(host: string, probe: RedirectProbe): Promise<{ status: number; location?: string }> {
  const target = probe.connect?.(host) ?? { host, port: 80 };
  return new Promise((resolve, reject) => {
    const req = http.get({ host: target.host, port: target.port, path: "/", headers: { Host: host }, timeout: probe.timeoutMs ?? 5000 }, (res) => {
      res.resume();
      resolve({ status: res.statusCode ?? 0, location: res.headers.location });
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${probe.timeoutMs ?? 5000} ms`)));
    req.on("error", reject);
  });
}

export async function checkRedirects(outputs: StackOutputs, probe: RedirectProbe = {}): Promise<CheckResult[]> {
  const env = outputs.environment;
  const routed = Object.entries(outputs.urls).sort(([a], [b]) => a.localeCompare(b));
  return Promise.all(
    routed.map(async ([service, url]): Promise<CheckResult> => {
      const host = new URL(url).hostname;
      const base = { id: `http.${env}.${service}.redirects`, stack: env, title: `http://${host}/ redirects permanently to https://${host}/` };
      try {
        const { status, location } = await get(host, probe);
        const url = location && URL.canParse(location) ? new URL(location) : undefined;
        const ok = PERMANENT.includes(status) && url?.protocol === "https:" && url.hostname === host;
        const answer = `${status}${location ? ` → ${location}` : ""}`;
        return {
          ...base,
          ok,
          evidence: ok ? answer : `${answer}; Traefik's static config must redirect the web entrypoint to websecure (docs/traefik.md#plain-http)`,
        };
      } catch (err) {
        return { ...base, ok: false, evidence: `GET http://${host}/ failed: ${(err as Error).message}` };
      }
    }),
  );
}
