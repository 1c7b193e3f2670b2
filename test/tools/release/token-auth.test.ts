/**
 * The registry client against a stand-in of GitLab's registry: a 401 with a
 * `Bearer realm=…,service=…,scope=…` challenge, a token service that wants the
 * login as Basic auth, and manifests that may be multi-platform indexes.
 */
import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { Registry } from "../../../tools/release/registry";

const LOGIN = { username: "gitlab+deploy-token-7", password: "token-secret" };
const TOKEN = "jwt-for-pull";
const sha = (body: string) => `sha256:${createHash("sha256").update(body).digest("hex")}`;
const INDEX = JSON.stringify({
  schemaVersion: 2,
  mediaType: "application/vnd.oci.image.index.v1+json",
  manifests: [
    { digest: sha("amd64"), platform: { os: "linux", architecture: "amd64" } },
    { digest: sha("arm64"), platform: { os: "linux", architecture: "arm64", variant: "v8" } },
  ],
});
const SINGLE = JSON.stringify({ schemaVersion: 2, mediaType: "application/vnd.docker.distribution.manifest.v2+json" });

let server: Server;
let base: string;
const seen: { path: string; authorization?: string; accept?: string; method: string }[] = [];

function handle(req: IncomingMessage, res: ServerResponse) {
  const url = new URL(req.url!, "http://x");
  seen.push({ path: url.pathname + url.search, authorization: req.headers.authorization, accept: req.headers.accept, method: req.method! });
  if (url.pathname === "/jwt/auth") {
    const expected = `Basic ${Buffer.from(`${LOGIN.username}:${LOGIN.password}`).toString("base64")}`;
    if (req.headers.authorization !== expected) return res.writeHead(401).end();
    return res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ token: TOKEN }));
  }
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    const scope = `repository:${url.pathname.split("/manifests/")[0].slice("/v2/".length)}:pull`;
    return res.writeHead(401, { "WWW-Authenticate": `Bearer realm="${base}/jwt/auth",service="container_registry",scope="${scope}"` }).end();
  }
  const tag = url.pathname.split("/manifests/")[1];
  const body = tag === "multi" ? INDEX : tag === "single" ? SINGLE : undefined;
  if (!body) return res.writeHead(404).end();
  const type = tag === "multi" ? "application/vnd.oci.image.index.v1+json" : "application/vnd.docker.distribution.manifest.v2+json";
  // Like some registries, this one leaves the digest header off: the client must hash what it got.
  res.writeHead(200, { "Content-Type": type, "Content-Length": Buffer.byteLength(body) });
  res.end(req.method === "HEAD" ? undefined : body);
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
afterAll(() => new Promise((r) => server.close(r)));
beforeEach(() => (seen.length = 0));

const repo = () => `${base.slice("http://".length)}/portugal-odyssey/platform/booking-service`;

test("follows the Bearer challenge: asks the realm for a pull token with the login, then sends the token", async () => {
  const resolved = await new Registry({ login: LOGIN }).resolve(repo(), "single");
  expect(resolved.digest).toBe(sha(SINGLE));
  const tokenCall = seen.find((s) => s.path.startsWith("/jwt/auth"))!;
  expect(new URL(tokenCall.path, base).searchParams.get("scope")).toBe("repository:portugal-odyssey/platform/booking-service:pull");
  expect(new URL(tokenCall.path, base).searchParams.get("service")).toBe("container_registry");
  const manifestCalls = seen.filter((s) => s.path.includes("/manifests/"));
  expect(manifestCalls.at(-1)!.authorization).toBe(`Bearer ${TOKEN}`);
  expect(manifestCalls[0].accept).toContain("application/vnd.oci.image.index.v1+json");
  expect(manifestCalls[0].accept).toContain("application/vnd.docker.distribution.manifest.v2+json");
});

test("pins a multi-platform index by the index's own digest when it offers the host's platform", async () => {
  const resolved = await new Registry({ login: LOGIN }).resolve(repo(), "multi");
  expect(resolved).toMatchObject({ digest: sha(INDEX), platforms: ["linux/amd64", "linux/arm64/v8"] });
});

test("refuses an index without the host's platform", async () => {
  await expect(new Registry({ login: LOGIN, platform: "linux/s390x" }).resolve(repo(), "multi")).rejects.toThrow(/multi-platform index without linux\/s390x \(it has linux\/amd64, linux\/arm64\/v8\)/);
});

test("a token service that refuses the login is one clear message, without the password", async () => {
  const attempt = new Registry({ login: { ...LOGIN, password: "wrong" } }).resolve(repo(), "single");
  await expect(attempt).rejects.toThrow(`the token service of ${base.slice("http://".length)} refused the login of ${LOGIN.username} (HTTP 401)`);
  await expect(attempt).rejects.not.toThrow(/wrong/);
});
