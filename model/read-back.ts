/**
 * What the docker provider stores for each input the program sends, after a
 * create and on every refresh: its read-back rules, per resource type and
 * field. The engine compares the program's inputs with that stored value; any
 * difference is a diff on every `up`, and on a ForceNew field (or one listed
 * in replaceOnChanges) a replacement on every `up`.
 *
 * Source: @pulumi/docker 5.x bridges kreuzwerker/terraform-provider-docker
 * (pulumi-docker's `upstream` submodule pins v4.5.0 at v5.1.0 and since). Every
 * rule cites that repository's internal/provider file and function; the
 * schema (ForceNew, Computed, defaults) is resource_docker_container.go,
 * resource_docker_network.go and resource_docker_volume.go.
 *
 * A rule is three small functions, so the same rule serves the unit tests
 * (which simulate the daemon) and the e2e (which reads the real one):
 *   sent -> daemon (`toDaemon`: what the provider's create sends and the daemon keeps),
 *   inspect JSON -> daemon value (`pick`),
 *   daemon value -> state (`read`: the provider's read function).
 * Another resource type (a Swarm service, say) is one more `ResourceRules`
 * entry in READ_BACK_RULES.
 */
import { isDeepStrictEqual } from "node:util";

/** The Docker engine the provider talks to, as read at preview (host/inventory.ts). */
export interface EngineFacts {
  /** The daemon's Engine API version, e.g. "1.41" (Docker 20.10) or "1.44" (Docker 25). */
  apiVersion: string;
  /** The kernel accounts swap (`docker info` SwapLimit): without it Docker discards a swap limit and reports -1. */
  swapLimit: boolean;
  /** The options the daemon adds to a json-file container's log options from its daemon.json `log-opts`. */
  jsonFileLogDefaults: Record<string, string>;
}

/** A current engine with no daemon.json log defaults: what a host without surprises looks like. */
export const MODERN_ENGINE: EngineFacts = { apiVersion: "1.44", swapLimit: true, jsonFileLogDefaults: {} };

/** `a` is the same API version as `b` or newer ("1.41" < "1.44" < "1.100"). */
export function apiAtLeast(a: string, b: string): boolean {
  const [am, an] = a.split(".").map(Number);
  const [bm, bn] = b.split(".").map(Number);
  return am !== bm ? am > bm : an >= bn;
}

/**
 * The Engine API version that first accepts a healthcheck start interval. The
 * provider's Docker client refuses any create that sets one on an older daemon
 * (moby client/container_create.go, ContainerCreate: NewVersionError("1.44",
 * "specify health-check start interval")), after negotiating the daemon's
 * version (internal/provider/config.go, MakeClient: WithAPIVersionNegotiation).
 */
export const START_INTERVAL_API = "1.44";

// ------------------------------------------------------------ Go's formats

const NS = { ns: 1n, us: 1000n, µs: 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n } as const;

/** Go's time.ParseDuration for the non-negative values the provider accepts (validateDurationGeq0); nanoseconds. */
export function parseGoDuration(text: string): bigint {
  if (text === "0") return 0n;
  const part = /(\d+)(?:\.(\d+))?(ns|us|µs|ms|s|m|h)/y;
  let total = 0n;
  let at = 0;
  while (at < text.length) {
    part.lastIndex = at;
    const m = part.exec(text);
    if (!m) throw new Error(`"${text}" is not a Go duration (such as 10s, 1m30s or 500ms)`);
    const unit = NS[m[3] as keyof typeof NS];
    const fraction = m[2] ?? "";
    total += BigInt(m[1]) * unit + (BigInt(fraction || "0") * unit) / 10n ** BigInt(fraction.length);
    at = part.lastIndex;
  }
  if (at === 0) throw new Error(`"${text}" is not a Go duration (such as 10s, 1m30s or 500ms)`);
  return total;
}

/** `n` over 10^digits as a decimal with trailing zeros (and a bare point) dropped. */
function decimal(n: bigint, digits: number): string {
  const scale = 10n ** BigInt(digits);
  const fraction = (n % scale).toString().padStart(digits, "0").replace(/0+$/, "");
  return `${n / scale}${fraction ? `.${fraction}` : ""}`;
}

/** Go's time.Duration.String(): 10s, 1m0s, 5m0s, 1h0m0s, 1.5s, 500ms, 0s. */
export function goDurationString(ns: bigint): string {
  if (ns === 0n) return "0s";
  if (ns < NS.us) return `${ns}ns`;
  if (ns < NS.ms) return `${decimal(ns, 3)}µs`;
  if (ns < NS.s) return `${decimal(ns, 6)}ms`;
  const hours = ns / NS.h;
  const minutes = (ns % NS.h) / NS.m;
  const seconds = decimal(ns % NS.m, 9);
  return `${hours > 0n ? `${hours}h` : ""}${hours > 0n || minutes > 0n ? `${minutes}m` : ""}${seconds}s`;
}

/** A whole number of seconds in the form the provider reads a healthcheck duration back in. */
export const durationOfSeconds = (seconds: number): string => goDurationString(BigInt(seconds) * NS.s);

/**
 * docker/cli opts.ParseCPUs, which the provider's create uses for `cpus`: a
 * decimal number of cores, refused when not a whole number of nano-CPUs.
 */
export function parseCpus(text: string): bigint {
  const m = /^(\d*)(?:\.(\d*))?$/.exec(text);
  if (!m || (m[1] === "" && !m[2])) throw new Error(`failed to parse ${text} as a rational number`);
  const fraction = m[2] ?? "";
  if (fraction.replace(/0+$/, "").length > 9) throw new Error(`${text}: value is too precise`);
  return BigInt(m[1] || "0") * NS.s + BigInt(fraction.slice(0, 9).padEnd(9, "0") || "0");
}

/**
 * internal/provider/helpers.go, nanoInt64ToDecimalString: nine decimals;
 * when that string holds exactly nine "0" characters (integer digits
 * included) it is re-rendered with ONE decimal, rounded (1 -> "1.0", 0.05 ->
 * "0.1", 0.01 -> "0.0"); otherwise trailing zeros are cut (0.25 -> "0.25", 10 -> "10.").
 */
export function nanoCpusToDecimalString(nano: bigint): string {
  if (nano === 0n) return "0";
  // big.Rat.FloatString(9)
  const nine = `${nano / NS.s}.${(nano % NS.s).toString().padStart(9, "0")}`;
  if ((nine.match(/0/g) ?? []).length === 9) {
    // big.Rat.FloatString(1): rounded half away from zero to one decimal.
    const tenths = (nano + 50_000_000n) / 100_000_000n;
    return `${tenths / 10n}.${tenths % 10n}`;
  }
  return nine.replace(/0+$/, "");
}

/** How the provider stores `cpus` for a number of cores the program chose. */
export const cpusReadBack = (cores: number): string => nanoCpusToDecimalString(parseCpus(cpusDecimal(cores)));

/** A JS number of cores as the plain decimal ParseCPUs reads (never exponent notation). */
const cpusDecimal = (cores: number): string => cores.toFixed(9).replace(/\.?0+$/, "");

/** The provider reads this number of cores back as the same number: it can be sent without a perpetual diff. */
export const cpusSurviveReadBack = (cores: number): boolean => parseCpus(cpusReadBack(cores)) === parseCpus(cpusDecimal(cores));

// ------------------------------------------------------------ rules

/** `docker inspect` JSON, as far as the rules look into it. */
export interface Inspected {
  readonly [key: string]: Inspected | undefined;
}

/**
 * One input property of one resource type. Its functions are methods, so each
 * rule types its own values (a string for `cpus`, a map for `tmpfs`).
 */
export interface FieldRule {
  /** The Pulumi input property, as the engine receives it. */
  property: string;
  /** A difference replaces the resource (ForceNew upstream); otherwise it is an update re-applied on every `up`. */
  forceNew: boolean;
  /** Upstream file and function this rule follows. */
  source: string;
  /** What the engine plans from an input: the schema default filled in when it is unset. Undefined: nothing to compare (Computed). */
  planned?(input: unknown): unknown;
  /** What the provider's create sends, as the daemon then keeps it (inspect's shape). */
  toDaemon(planned: unknown, engine: EngineFacts): unknown;
  /** The daemon's value out of `docker inspect` JSON. */
  pick(inspect: Inspected): unknown;
  /** The provider's read: the state it stores from the daemon's value (and, where the read depends on it, the plan). */
  read(daemon: unknown, planned: unknown): unknown;
  /** Compared as a set or map, not in order. */
  unordered?: boolean;
  /** Why the provider's create fails outright for this input on this engine; undefined when it does not. */
  refusal?(planned: unknown, engine: EngineFacts): string | undefined;
}

export interface ResourceRules {
  /** Fields whose read-back the program must match. */
  fields: FieldRule[];
  /** Input properties the provider never reads back (so they cannot drift), each with where that is decided. */
  notRead: Record<string, string>;
}

const C = "internal/provider/resource_docker_container_funcs.go";
const N = "internal/provider/resource_docker_network_funcs.go";
const V = "internal/provider/resource_docker_volume.go";
const MIB = 1024 * 1024;
const ifSet = (value: unknown) => value;
const sortedSet = (values: unknown) => (Array.isArray(values) ? [...values].map(String).sort() : []);
const labelMap = (labels: unknown): Record<string, string> =>
  Object.fromEntries(((labels as { label: string; value: string }[] | undefined) ?? []).map((l) => [l.label, l.value]));
const labelList = (map: Record<string, string> | null | undefined) => Object.entries(map ?? {}).map(([label, value]) => ({ label, value }));

const HEALTH_DURATIONS = ["interval", "timeout", "startPeriod", "startInterval"] as const;
type HealthcheckInput = { tests?: string[]; retries?: number } & Partial<Record<(typeof HEALTH_DURATIONS)[number], string>>;
type PlannedHealthcheck = Required<HealthcheckInput>;
type DaemonHealthcheck = { Test?: string[]; Retries?: number } & Partial<Record<string, unknown>>;
type IpamInput = { subnet?: string; ipRange?: string; gateway?: string };
type DaemonIpam = { Subnet?: string; IPRange?: string; Gateway?: string };
const HEALTH_DAEMON_KEYS = { interval: "Interval", timeout: "Timeout", startPeriod: "StartPeriod", startInterval: "StartInterval" } as const;

/** A field the daemon keeps as sent and the provider reads back as is: only where it is read from differs. */
const asIs = (property: string, source: string, pick: (i: Inspected) => unknown, planned: (input: unknown) => unknown = ifSet): FieldRule => ({
  property,
  forceNew: true,
  source,
  planned,
  toDaemon: (value: unknown) => value,
  pick,
  read: (value: unknown) => value,
});

/** `labels`, a set of {label, value}, read back with mapToLabelSet (internal/provider/helpers.go). */
const labelsRule = (source: string, planned: (labels: unknown) => unknown): FieldRule => ({
  property: "labels",
  forceNew: true,
  source,
  planned,
  toDaemon: (l: Record<string, string>) => l,
  pick: (i) => i.Labels ?? {},
  read: (l: Record<string, string>) => labelMap(labelList(l)),
  unordered: true,
});

const CONTAINER: ResourceRules = {
  fields: [
    {
      property: "name",
      forceNew: true,
      source: `${C} resourceDockerContainerRead: strings.TrimLeft(container.Name, "/")`,
      planned: ifSet,
      toDaemon: (name: string) => `/${name}`,
      pick: (i) => i.Name,
      read: (name: string) => name.replace(/^\/+/, ""),
    },
    {
      property: "image",
      forceNew: true,
      source: `${C} resourceDockerContainerRead: container.Image when the planned image starts with sha256:, else Config.Image`,
      planned: ifSet,
      toDaemon: (image: string) => ({ Image: image.startsWith("sha256:") ? image : "sha256:(resolved by the daemon)", ConfigImage: image }),
      pick: (i) => ({ Image: i.Image, ConfigImage: i.Config?.Image }),
      read: (d: { Image: string; ConfigImage: string }, planned: string) => (planned.startsWith("sha256:") ? d.Image : d.ConfigImage),
    },
    asIs("command", `${C} resourceDockerContainerRead: Config.Cmd (Computed: unset takes the image's)`, (i) => i.Config?.Cmd ?? null),
    asIs("hostname", `${C} resourceDockerContainerRead: Config.Hostname (Computed: unset takes the container ID's prefix)`, (i) => i.Config?.Hostname),
    {
      property: "healthcheck",
      // Not ForceNew upstream, but components/container.ts replaces on it: Docker ignores an in-place change.
      forceNew: true,
      source: `${C} resourceDockerContainerRead: each duration as Go's time.Duration.String() (60s -> "1m0s"); schema defaults "0s"`,
      planned: (h?: HealthcheckInput) =>
        h && {
          tests: h.tests ?? [],
          ...Object.fromEntries(HEALTH_DURATIONS.map((k) => [k, h[k] ?? "0s"])),
          retries: h.retries ?? 0,
        },
      toDaemon: (h: PlannedHealthcheck, engine: EngineFacts) => ({
        Test: h.tests,
        ...Object.fromEntries(
          HEALTH_DURATIONS.map((k) => [HEALTH_DAEMON_KEYS[k], Number(parseGoDuration(h[k]))])
            // Docker < 25 has no StartInterval field: the daemon drops it (checked on 20.10's API 1.41).
            .filter(([key]) => key !== "StartInterval" || apiAtLeast(engine.apiVersion, START_INTERVAL_API)),
        ),
        Retries: h.retries,
      }),
      pick: (i) => i.Config?.Healthcheck ?? null,
      read: (d: DaemonHealthcheck | null) =>
        d && {
          tests: d.Test ?? [],
          ...Object.fromEntries(HEALTH_DURATIONS.map((k) => [k, goDurationString(BigInt(Number(d[HEALTH_DAEMON_KEYS[k]] ?? 0)))])),
          retries: d.Retries ?? 0,
        },
      refusal: (h: PlannedHealthcheck, engine: EngineFacts) =>
        h && parseGoDuration(h.startInterval) !== 0n && !apiAtLeast(engine.apiVersion, START_INTERVAL_API)
          ? `the provider's Docker client refuses a healthcheck startInterval on API ${engine.apiVersion} (needs ${START_INTERVAL_API}, Docker 25)`
          : undefined,
    },
    {
      property: "restart",
      forceNew: false,
      source: `${C} resourceDockerContainerRead: HostConfig.RestartPolicy.Name (schema default "no")`,
      planned: (r?: string) => r ?? "no",
      toDaemon: (r: string) => r,
      pick: (i) => i.HostConfig?.RestartPolicy?.Name,
      read: (r: string) => r,
    },
    {
      property: "memory",
      forceNew: false,
      source: `${C} resourceDockerContainerCreate: MiB * 1024 * 1024; resourceDockerContainerRead: HostConfig.Memory/1024/1024`,
      planned: (m?: number) => m ?? 0,
      toDaemon: (m: number) => m * MIB,
      pick: (i) => i.HostConfig?.Memory,
      read: (bytes: number) => Math.trunc(bytes / MIB),
    },
    {
      property: "memorySwap",
      forceNew: false,
      source: `${C} resourceDockerContainerRead: HostConfig.MemorySwap/1024/1024 when > 0, else as is (-1 where the kernel has no swap accounting)`,
      planned: (m?: number) => m ?? 0,
      toDaemon: (m: number, engine: EngineFacts) => (m > 0 ? (engine.swapLimit ? m * MIB : -1) : m),
      pick: (i) => i.HostConfig?.MemorySwap,
      read: (bytes: number) => (bytes > 0 ? Math.trunc(bytes / MIB) : bytes),
    },
    {
      property: "cpus",
      forceNew: true,
      source: `${C} resourceDockerContainerCreate: opts.ParseCPUs; resourceDockerContainerRead: internal/provider/helpers.go nanoInt64ToDecimalString`,
      planned: ifSet,
      toDaemon: (cpus: string) => Number(parseCpus(cpus)),
      pick: (i) => i.HostConfig?.NanoCPUs ?? 0,
      // Nothing is set for 0, so the planned value stays.
      read: (nano: number, planned: string) => (nano > 0 ? nanoCpusToDecimalString(BigInt(nano)) : planned),
    },
    asIs("logDriver", `${C} resourceDockerContainerRead: HostConfig.LogConfig.Type (Computed)`, (i) => i.HostConfig?.LogConfig?.Type),
    {
      property: "logOpts",
      forceNew: true,
      source: `${C} resourceDockerContainerRead/containerLogOptsForState: the daemon's whole LogConfig.Config once any is set, daemon.json log-opts merged in (kreuzwerker #473)`,
      planned: ifSet,
      // moby daemon mergeAndVerifyLogConfig: the daemon's default options fill every key the container leaves out.
      toDaemon: (opts: Record<string, string>, engine: EngineFacts) => ({ ...engine.jsonFileLogDefaults, ...opts }),
      pick: (i) => i.HostConfig?.LogConfig?.Config ?? {},
      read: (opts: Record<string, string>) => opts,
      unordered: true,
    },
    {
      property: "readOnly",
      forceNew: true,
      source: `${C} resourceDockerContainerRead: HostConfig.ReadonlyRootfs (schema default false)`,
      planned: (r?: boolean) => r ?? false,
      toDaemon: (r: boolean) => r,
      pick: (i) => i.HostConfig?.ReadonlyRootfs,
      read: (r: boolean) => r,
    },
    {
      property: "tmpfs",
      forceNew: true,
      source: `${C} resourceDockerContainerRead: HostConfig.Tmpfs (replaced on change: components/container.ts)`,
      planned: (t?: Record<string, string>) => t ?? {},
      toDaemon: (t: Record<string, string>) => t,
      pick: (i) => i.HostConfig?.Tmpfs ?? {},
      read: (t: Record<string, string> | null) => t ?? {},
      unordered: true,
    },
    asIs("user", `${C} resourceDockerContainerRead: Config.User ("" in the plan is suppressed: resource_docker_container.go DiffSuppressFunc)`, (i) => i.Config?.User),
    {
      property: "capabilities",
      forceNew: true,
      source: `${C} resourceDockerContainerRead: {add: HostConfig.CapAdd, drop: HostConfig.CapDrop}, each a set, as the daemon keeps them`,
      planned: (c?: { adds?: string[]; drops?: string[] }) => c && { adds: sortedSet(c.adds), drops: sortedSet(c.drops) },
      toDaemon: (c: { adds: string[]; drops: string[] }) => ({ CapAdd: c.adds, CapDrop: c.drops }),
      pick: (i) => ({ CapAdd: i.HostConfig?.CapAdd ?? [], CapDrop: i.HostConfig?.CapDrop ?? [] }),
      read: (d: { CapAdd: string[]; CapDrop: string[] }) => ({ adds: sortedSet(d.CapAdd), drops: sortedSet(d.CapDrop) }),
    },
    {
      property: "securityOpts",
      forceNew: true,
      source: `${C} resourceDockerContainerRead: HostConfig.SecurityOpt, a set (Computed)`,
      planned: (s?: string[]) => s && sortedSet(s),
      toDaemon: (s: string[]) => s,
      pick: (i) => i.HostConfig?.SecurityOpt ?? [],
      read: (s: string[]) => sortedSet(s),
    },
    {
      property: "networkMode",
      forceNew: true,
      source: `${C} resourceDockerContainerCreate sends it as HostConfig.NetworkMode (schema default "bridge"), then disconnects "bridge" for networks_advanced; Read: HostConfig.NetworkMode`,
      planned: (m?: string) => m ?? "bridge",
      toDaemon: (m: string) => m,
      pick: (i) => i.HostConfig?.NetworkMode,
      read: (m: string) => m,
    },
    {
      property: "mustRun",
      forceNew: false,
      source: `${C} resourceDockerContainerRead: set to false when the container is not running`,
      planned: (m?: boolean) => m ?? true,
      toDaemon: () => true,
      pick: (i) => (i.State?.Running as unknown) === true,
      read: (running: boolean, planned: boolean) => (running ? planned : false),
    },
  ],
  notRead: {
    envs: `${C} resourceDockerContainerRead: "We decided not to set the environment variables and labels" (upstream #242, #269)`,
    labels: `${C} resourceDockerContainerRead: labels are not set (upstream #242, #269)`,
    networksAdvanced: `${C} resourceDockerContainerRead: only set when the state has none (import)`,
    volumes: `${C} resourceDockerContainerRead: "// volumes" is not read; only \`mounts\` is`,
    uploads: `${C} resourceDockerContainerRead: "upload" can't be imported`,
    wait: `${C} resourceDockerContainerCreate only`,
    waitTimeout: `${C} resourceDockerContainerCreate only`,
    destroyGraceSeconds: `${C} resourceDockerContainerRead: "destroy_grace_seconds" can't be imported`,
  },
};

const NETWORK: ResourceRules = {
  fields: [
    asIs("name", `${N} resourceDockerNetworkReadRefreshFunc: retNetwork.Name`, (i) => i.Name),
    asIs("driver", `${N} resourceDockerNetworkReadRefreshFunc: retNetwork.Driver (Computed)`, (i) => i.Driver),
    labelsRule(`${N} resourceDockerNetworkReadRefreshFunc: mapToLabelSet(retNetwork.Labels)`, labelMap),
    asIs("internal", `${N} resourceDockerNetworkReadRefreshFunc: retNetwork.Internal (Computed)`, (i) => i.Internal),
    {
      property: "ipamConfigs",
      forceNew: true,
      source: `internal/provider/resource_docker_network_structures.go flattenIpamConfigSpec: subnet, ip_range, gateway as the daemon reports them (Computed; a gateway Docker picks shows up after a daemon restart: upstream #54)`,
      planned: (configs?: IpamInput[]) => configs && configs.map(ipamEntry),
      // Docker reports only what it was given until the daemon restarts, then the gateway it picked: the first address.
      toDaemon: (configs: IpamInput[]) => configs.map((c) => ({ Subnet: c.subnet, IPRange: c.ipRange, Gateway: c.gateway ?? firstAddress(c.subnet!) })),
      pick: (i) => i.IPAM?.Config ?? [],
      read: (configs: DaemonIpam[]) => configs.map((c) => ipamEntry({ subnet: c.Subnet, ipRange: c.IPRange, gateway: c.Gateway })),
    },
  ],
  notRead: {},
};

const VOLUME: ResourceRules = {
  fields: [
    asIs("name", `${V} resourceDockerVolumeRead: volume.Name`, (i) => i.Name),
    labelsRule(`${V} resourceDockerVolumeRead: mapToLabelSet(volume.Labels)`, (l) => (l === undefined ? undefined : labelMap(l))),
  ],
  notRead: {},
};

function ipamEntry(c: IpamInput) {
  return Object.fromEntries(Object.entries({ subnet: c.subnet, ipRange: c.ipRange, gateway: c.gateway }).filter(([, v]) => v));
}

/** The first host address of an IPv4 subnet: the gateway Docker's default IPAM gives a bridge network. */
export function firstAddress(cidr: string): string {
  const [address] = cidr.split("/");
  const n = address.split(".").reduce((acc, octet) => acc * 256 + Number(octet), 0) + 1;
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");
}

/** Every resource type the program creates, by its Pulumi type token. */
export const READ_BACK_RULES: Record<string, ResourceRules> = {
  "docker:index/container:Container": CONTAINER,
  "docker:index/network:Network": NETWORK,
  "docker:index/volume:Volume": VOLUME,
};

// ------------------------------------------------------------ comparing

/** One field whose stored value will differ from what the program sends. */
export interface ReadBackDiff {
  property: string;
  /** Replaced on every `up` (true) or updated on every `up`. */
  replaces: boolean;
  sent: unknown;
  readBack: unknown;
  source: string;
}

function canonical(value: unknown, unordered: boolean): unknown {
  if (!unordered || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return [...value].map((v) => JSON.stringify(v)).sort();
  return Object.fromEntries(Object.entries(value).sort(([a], [b]) => a.localeCompare(b)));
}

function rulesFor(type: string): ResourceRules {
  const rules = READ_BACK_RULES[type];
  if (!rules) throw new Error(`no read-back rules for ${type}; add them to model/read-back.ts`);
  return rules;
}

/** Input properties of `inputs` no rule covers: a field the program started sending without checking how it is read back. */
export function uncoveredProperties(type: string, inputs: Record<string, unknown>): string[] {
  const rules = rulesFor(type);
  const known = new Set([...rules.fields.map((f) => f.property), ...Object.keys(rules.notRead)]);
  return Object.keys(inputs).filter((p) => inputs[p] !== undefined && !known.has(p));
}

/**
 * Compares the inputs with what the provider stores, either simulated for an
 * engine (`daemon: EngineFacts`) or read from a real daemon's inspect JSON.
 */
export function readBackDiffs(type: string, inputs: Record<string, unknown>, daemon: { engine: EngineFacts } | { inspect: unknown }): ReadBackDiff[] {
  const diffs: ReadBackDiff[] = [];
  for (const rule of rulesFor(type).fields) {
    const planned = rule.planned?.(inputs[rule.property]);
    if (planned === undefined) continue;
    const stored = "engine" in daemon ? rule.toDaemon(planned, daemon.engine) : rule.pick(daemon.inspect as Inspected);
    const readBack = rule.read(stored, planned);
    if (!isDeepStrictEqual(canonical(planned, !!rule.unordered), canonical(readBack, !!rule.unordered))) {
      diffs.push({ property: rule.property, replaces: rule.forceNew, sent: planned, readBack, source: rule.source });
    }
  }
  return diffs;
}

/** Why the provider's create would fail for these inputs on this engine, one line per field. */
export function createRefusals(type: string, inputs: Record<string, unknown>, engine: EngineFacts): string[] {
  return rulesFor(type).fields.flatMap((rule) => {
    const planned = rule.planned?.(inputs[rule.property]);
    const why = planned === undefined ? undefined : rule.refusal?.(planned, engine);
    return why ? [`${rule.property}: ${why}`] : [];
  });
}

export const describeReadBackDiff = (d: ReadBackDiff) =>
  `${d.property} is sent as ${JSON.stringify(d.sent)} and read back as ${JSON.stringify(d.readBack)} (${d.replaces ? "a replacement" : "an update"} on every up; ${d.source})`;
