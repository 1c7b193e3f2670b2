import http from "node:http";
import type { AddressInfo } from "node:net";
import { checkRedirects } from "../../../tools/verify/redirects";
import { programOutputs } from "./fixtures";
import type { StackOutputs } from "../../../tools/verify/outputs";

/** A stand-in for Traefik's web entrypoint: answers each Host as `answer` says. */
let server: http.Server;
let answer: (host: string) => { status: number; location?: string };
let port: number;
let qual: StackOutputs;

beforeAll(async () => {
  qual = await programOutputs("qual");
  server = http.createServer((req, res) => {
    const { status, location } = answer(req.headers.host ?? "");
    res.writeHead(status, location ? { Location: location } : {});
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const probe = () => ({ connect: () => ({ host: "127.0.0.1", port }), timeoutMs: 2000 });
const routed = () => Object.keys(qual.urls).sort();

describe("the plain-HTTP redirect check", () => {
  test("passes for every public host that answers a permanent redirect to itself over https", async () => {
    answer = (host) => ({ status: 301, location: `https://${host}/` });
    const results = await checkRedirects(qual, probe());
    expect(results.map((r) => [r.id, r.ok])).toEqual(routed().map((s) => [`http.${qual.environment}.${s}.redirects`, true]));
  });

  test("fails a host without the redirect (Traefik's 404: no router on web), saying what to configure", async () => {
    const api = new URL(qual.urls["api-gateway"]).hostname;
    answer = (host) => (host === api ? { status: 404 } : { status: 308, location: `https://${host}/` });
    const failed = (await checkRedirects(qual, probe())).filter((r) => !r.ok);
    expect(failed.map((r) => [r.id, r.evidence])).toEqual([[`http.${qual.environment}.api-gateway.redirects`, expect.stringMatching(/^404; Traefik's static config must redirect the web entrypoint to websecure/)]]);
  });

  test("fails a temporary redirect, or one to another host or to plain http", async () => {
    for (const bad of [(h: string) => ({ status: 302, location: `https://${h}/` }), () => ({ status: 301, location: "https://elsewhere.example/" }), (h: string) => ({ status: 301, location: `http://${h}/` })]) {
      answer = bad;
      expect((await checkRedirects(qual, probe())).every((r) => !r.ok)).toBe(true);
    }
  });

  test("fails, with the error, when nothing answers", async () => {
    const closed = await checkRedirects(qual, { connect: () => ({ host: "127.0.0.1", port: 1 }), timeoutMs: 1000 });
    expect(closed.every((r) => !r.ok && /^GET http:\/\/.+\/ failed: /.test(r.evidence))).toBe(true);
  });
});
