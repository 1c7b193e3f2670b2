/**
 * Resolves image tags to digests through a registry's HTTP API (the OCI
 * distribution spec, which Docker Registry v2 implements):
 *   HEAD /v2/<name>/manifests/<tag>  →  Docker-Content-Digest
 * https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pulling-manifests
 *
 * Authentication follows the 401's WWW-Authenticate challenge: `Bearer` (a
 * token service, as GitLab's registry uses: realm, service and scope, asked
 * with the login as Basic auth; https://distribution.github.io/distribution/spec/auth/token/)
 * or `Basic` (as docker-registry with htpasswd uses).
 */
import { createHash } from "node:crypto";
import { DIGEST_PATTERN } from "../../model/image-ref";

export interface RegistryLogin {
  username: string;
  password: string;
}

export class RegistryError extends Error {}

/** Multi-platform indexes first: when a tag names one, its digest is what is pinned (see resolve). */
const INDEXES = ["application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"];
const ACCEPT = [...INDEXES, "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.oci.image.manifest.v1+json"].join(", ");

const LOOPBACK = /^(?:localhost|127(?:\.[0-9]{1,3}){3}|\[::1\])(?::[0-9]+)?$/;

const basic = (login: RegistryLogin) => `Basic ${Buffer.from(`${login.username}:${login.password}`).toString("base64")}`;

export class Registry {
  private readonly authorization = new Map<string, string>();

  /** `platform`: the host's, which an index must offer (default linux/amd64). */
  constructor(private readonly options: { login?: RegistryLogin; platform?: string; fetch?: typeof fetch } = {}) {}

  /** Resolves `repository:tag` to the `sha256:…` digest the registry serves for it, and an index's platforms. */
  async resolve(repository: string, tag: string): Promise<{ digest: string; platforms?: string[] }> {
    const what = `${repository}:${tag}`;
    const head = await this.request("HEAD", repository, tag);
    let digest = head.headers.get("docker-content-digest") ?? undefined;
    let mediaType = (head.headers.get("content-type") ?? "").split(";")[0].trim();
    let body: Buffer | undefined;
    if (!digest || INDEXES.includes(mediaType)) {
      // Some registries leave the digest off a HEAD; the digest of the exact bytes served is the same thing.
      const got = await this.request("GET", repository, tag);
      body = Buffer.from(await got.arrayBuffer());
      mediaType = (got.headers.get("content-type") ?? mediaType).split(";")[0].trim();
      digest = got.headers.get("docker-content-digest") ?? `sha256:${createHash("sha256").update(body).digest("hex")}`;
    }
    if (!DIGEST_PATTERN.test(digest)) throw new RegistryError(`${what}: the registry answered an unusable digest "${digest}"`);
    if (!INDEXES.includes(mediaType)) return { digest };
    // An index: pin the index's own digest (what `docker pull repo@digest` takes and RepoDigests
    // records), and only when it offers the host's platform, or the pull would fail on the host.
    const platform = this.options.platform ?? "linux/amd64";
    const manifests = (JSON.parse(body!.toString("utf8")) as { manifests?: { platform?: { os?: string; architecture?: string; variant?: string } }[] }).manifests ?? [];
    const platforms = manifests.flatMap((m) => (m.platform?.os ? [[m.platform.os, m.platform.architecture, m.platform.variant].filter(Boolean).join("/")] : []));
    if (!platforms.some((p) => p === platform || p.startsWith(`${platform}/`))) {
      throw new RegistryError(`${what} is a multi-platform index without ${platform} (it has ${platforms.join(", ") || "none"}); the host could not run it`);
    }
    return { digest, platforms };
  }

  private async request(method: "HEAD" | "GET", repository: string, tag: string): Promise<Response> {
    const [, host, name] = /^([^/]+)\/(.+)$/.exec(repository)!;
    // Docker itself talks plain HTTP to loopback registries only (they are insecure-allowed by default).
    const base = `${LOOPBACK.test(host) ? "http" : "https"}://${host}`;
    const send = (authorization?: string) =>
      this.reach(
        `${base}/v2/${name}/manifests/${encodeURIComponent(tag)}`,
        { method, headers: { Accept: ACCEPT, ...(authorization ? { Authorization: authorization } : {}) } },
        `the registry ${host} (${base})`,
      );
    let response = await send(this.authorization.get(repository));
    if (response.status === 401) {
      this.authorization.set(repository, await this.authorize(response.headers.get("www-authenticate") ?? "", host, name));
      response = await send(this.authorization.get(repository));
      if (response.status === 401 || response.status === 403) {
        throw new RegistryError(`${host} refused the login${this.options.login ? ` of ${this.options.login.username}` : " (none given)"} (HTTP ${response.status}); check the registry credentials`);
      }
    }
    if (response.status === 404) throw new RegistryError(`${repository}:${tag}: no such tag in the registry (HTTP 404)`);
    if (response.status === 403) throw new RegistryError(`${host} denies ${this.options.login?.username ?? "anonymous"} access to ${name} (HTTP 403); the token needs read_registry on it`);
    if (!response.ok) throw new RegistryError(`${repository}:${tag}: the registry answered HTTP ${response.status}`);
    return response;
  }

  /** fetch within the timeout; a network failure names what could not be reached, and why. */
  private reach(url: string | URL, init: RequestInit, what: string): Promise<Response> {
    return (this.options.fetch ?? fetch)(url, { ...init, signal: AbortSignal.timeout(15_000) }).catch((error: Error) => {
      throw new RegistryError(`cannot reach ${what}: ${(error.cause as Error | undefined)?.message ?? error.message}`);
    });
  }

  /** The Authorization header the challenge (`Scheme key="value", key2="value2"`) asks for. */
  private async authorize(challenge: string, host: string, name: string): Promise<string> {
    const scheme = challenge.split(" ")[0].toLowerCase();
    const params = Object.fromEntries([...challenge.matchAll(/([A-Za-z_]+)="([^"]*)"/g)].map((m) => [m[1].toLowerCase(), m[2]]));
    const login = this.options.login;
    if (scheme === "basic") {
      if (!login) throw new RegistryError(`${host} requires a login (Basic auth) and none was given`);
      return basic(login);
    }
    if (scheme !== "bearer" || !params.realm) throw new RegistryError(`${host} asked for an authentication it does not describe: "${challenge}"`);
    const realm = new URL(params.realm);
    if (params.service) realm.searchParams.set("service", params.service);
    realm.searchParams.set("scope", params.scope ?? `repository:${name}:pull`);
    const response = await this.reach(realm, { headers: login ? { Authorization: basic(login) } : {} }, `the token service ${realm.origin} of ${host}`);
    if (response.status === 401 || response.status === 403) {
      throw new RegistryError(`the token service of ${host} refused the login${login ? ` of ${login.username}` : ""} (HTTP ${response.status}); check the registry credentials`);
    }
    if (!response.ok) throw new RegistryError(`the token service of ${host} answered HTTP ${response.status}`);
    const body = (await response.json()) as { token?: string; access_token?: string };
    const token = body.token ?? body.access_token;
    if (!token) throw new RegistryError(`the token service of ${host} answered without a token`);
    return `Bearer ${token}`;
  }
}
