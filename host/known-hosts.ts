/**
 * OpenSSH known_hosts lines, and whether one of them vouches for the key a
 * host presents. Pure: reading the files is the caller's business. The format
 * is sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"; we follow OpenSSH's client where
 * the man page leaves a choice (a bare name on port 22, `[host]:port` on any
 * other, case-insensitive patterns).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

export type Marker = "revoked" | "cert-authority";

export interface KnownHostLine {
  /** `file:line`, so a refusal can point at the line that caused it. */
  source: string;
  marker?: Marker;
  /** The hostnames field as written: patterns, or one hashed `|1|salt|hash`. */
  hosts: string;
  keyType: string;
  /** The base64-decoded key field: the same wire-format blob the server sends. */
  key: Buffer;
}

/** Lines we cannot read are skipped, as ssh does, rather than failing every connection. */
export function parseKnownHosts(text: string, file: string): KnownHostLine[] {
  const lines: KnownHostLine[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === "" || fields[0].startsWith("#")) return;
    let marker: Marker | undefined;
    if (fields[0].startsWith("@")) {
      const name = fields.shift()!.slice(1);
      if (name !== "revoked" && name !== "cert-authority") return;
      marker = name;
    }
    const [hosts, keyType, encoded] = fields;
    if (!hosts || !keyType || !encoded) return;
    const key = Buffer.from(encoded, "base64");
    if (key.length === 0) return;
    lines.push({ source: `${file}:${index + 1}`, marker, hosts, keyType, key });
  });
  return lines;
}

/** The name a host is filed under: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  const bare = host.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  return port === 22 ? bare : `[${bare}]:${port}`;
}

/** Does a hostnames field name this host? `name` comes from knownHostsName. */
export function hostsFieldMatches(field: string, name: string): boolean {
  if (field.startsWith("|")) return hashedMatches(field, name);
  let matched = false;
  for (const pattern of field.split(",")) {
    const negated = pattern.startsWith("!");
    if (!globMatches(negated ? pattern.slice(1) : pattern, name)) continue;
    // A negated match vetoes the whole line, whatever else on it matched.
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** `|1|salt|hash`: hash is HMAC-SHA1 of the name, keyed with the decoded salt. */
function hashedMatches(field: string, name: string): boolean {
  const [, version, salt, hash] = field.split("|");
  if (version !== "1" || !salt || !hash) return false;
  const expected = Buffer.from(hash, "base64");
  const actual = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

function globMatches(pattern: string, name: string): boolean {
  const source = pattern
    .toLowerCase()
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[\\^$.|+()[\]{}]/g, "\\$&")))
    .join("");
  return new RegExp(`^${source}$`).test(name);
}

export type HostKeyVerdict =
  | { accepted: true; source: string }
  | { accepted: false; reason: "revoked"; source: string }
  | { accepted: false; reason: "changed"; known: KnownHostLine[] }
  | { accepted: false; reason: "unknown"; certAuthorities: KnownHostLine[] };

/**
 * Accepted only when a plain line for this name carries exactly this key.
 * A revoked key loses even if another line also lists it, as in OpenSSH.
 */
export function checkHostKey(lines: KnownHostLine[], name: string, key: Buffer): HostKeyVerdict {
  const forHost = lines.filter((l) => hostsFieldMatches(l.hosts, name));
  const sameKey = forHost.filter((l) => l.key.equals(key));
  const revoked = sameKey.find((l) => l.marker === "revoked");
  if (revoked) return { accepted: false, reason: "revoked", source: revoked.source };
  const vouching = sameKey.find((l) => l.marker === undefined);
  if (vouching) return { accepted: true, source: vouching.source };
  const known = forHost.filter((l) => l.marker === undefined);
  if (known.length > 0) return { accepted: false, reason: "changed", known };
  return { accepted: false, reason: "unknown", certAuthorities: forHost.filter((l) => l.marker === "cert-authority") };
}

/** As `ssh-keygen -l` prints it, so it can be compared with what the host's admin reads out. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash("sha256").update(key).digest("base64").replace(/=+$/, "")}`;
}

export interface RefusalContext {
  host: string;
  port: number;
  /** Every file looked at, and whether it was there to read. */
  files: { path: string; found: boolean }[];
  key: Buffer;
}

/** The blob starts with its type as an SSH string (uint32 length, then the name). */
function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return "unknown-type";
  const length = key.readUInt32BE(0);
  return key.length >= 4 + length ? key.subarray(4, 4 + length).toString() : "unknown-type";
}

/** One message that says which host, what was read, and what to do about it. */
export function describeRefusal(verdict: Exclude<HostKeyVerdict, { accepted: true }>, ctx: RefusalContext): string {
  const name = knownHostsName(ctx.host, ctx.port);
  const presented = `${keyTypeOf(ctx.key)} ${fingerprint(ctx.key)}`;
  const read = ctx.files.filter((f) => f.found).map((f) => f.path);
  const absent = ctx.files.filter((f) => !f.found).map((f) => f.path);
  const files = `known_hosts read: ${read.join(", ") || "none"}${absent.length ? `; absent or unreadable: ${absent.join(", ")}` : ""}`;
  const bareHost = ctx.host.replace(/^\[(.*)\]$/, "$1");
  const keyscan = `ssh-keyscan ${ctx.port === 22 ? "" : `-p ${ctx.port} `}${bareHost} >> ~/.ssh/known_hosts`;
  const head = `ssh host key check failed for ${name} (presented ${presented})`;
  switch (verdict.reason) {
    case "revoked":
      return `${head}: that key is marked @revoked at ${verdict.source} and is never accepted. The host must get a new key. (${files})`;
    case "changed":
      return (
        `${head}: it does not match the key(s) on file at ${verdict.known.map((l) => l.source).join(", ")}. ` +
        `The host's key has changed, or something is intercepting the connection. If the change is expected, ` +
        `check the new fingerprint out of band, then: ssh-keygen -R '${name}' && ${keyscan} (${files})`
      );
    case "unknown": {
      const ca = verdict.certAuthorities.length
        ? ` Only @cert-authority lines (${verdict.certAuthorities.map((l) => l.source).join(", ")}) name it; host certificates are not supported here, so list the host's own key.`
        : "";
      return `${head}: the host is not in known_hosts.${ca} Check its fingerprint out of band, then: ${keyscan} (${files})`;
    }
  }
}
