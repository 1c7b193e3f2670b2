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
 * resource_docker_network.go, resource_docker_volume.go and, for
 * `runtime: swarm`, resource_docker_service.go, resource_docker_secret.go and
 * resource_docker_config.go. Where the Docker engine (or the moby client the
 * provider links) changes a value on its way, the rule cites moby too.
 *
 * A rule is three small functions, so the same rule serves the unit tests
 * (which simulate the daemon) and the e2e (which reads the real one):
 *   sent -> daemon (`toDaemon`: what the provider's create sends and the daemon keeps),
 *   inspect JSON -> daemon value (`pick`),
 *   daemon value -> state (`read`: the provider's read function).
 * Another resource type is one more `ResourceRules` entry in READ_BACK_RULES.
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

/**
 * internal/provider/resource_docker_service_structures.go, shortDur: how the
 * provider reads back every duration of a swarm service: Duration.String()
 * with a trailing "m0s" cut to "m" and "h0m" to "h" (90s -> "1m30s", 60s -> "1m").
 */
export function shortDur(ns: bigint): string {
  let text = goDurationString(ns);
  if (text.endsWith("m0s")) text = text.slice(0, -2);
  if (text.endsWith("h0m")) text = text.slice(0, -2);
  return text;
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
  /** Paths inside an updatable property whose difference replaces the resource all the same (a ForceNew field in a block). */
  forceNewPaths?: string[];
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
  /** Paths inside this property's input that no part of the rule models (for a property made of blocks). */
  uncovered?(input: unknown): string[];
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
const labelsRule = (source: string, planned: (labels: unknown) => unknown, pick: (i: Inspected) => unknown = (i) => i.Labels ?? {}): FieldRule => ({
  property: "labels",
  forceNew: true,
  source,
  planned,
  toDaemon: (l: Record<string, string>) => l,
  pick,
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
    asIs("attachable", `${N} resourceDockerNetworkReadRefreshFunc: retNetwork.Attachable (an overlay keeps it in its swarm spec)`, (i) => i.Attachable),
    asIs(
      "ipamDriver",
      `${N} resourceDockerNetworkReadRefreshFunc: retNetwork.IPAM.Driver (schema default "default"; the swarm allocator names its default driver "default" too)`,
      (i) => i.IPAM?.Driver,
      (d) => d ?? "default",
    ),
    {
      property: "ipamConfigs",
      forceNew: true,
      source:
        "internal/provider/resource_docker_network_structures.go flattenIpamConfigSpec: subnet, ip_range, gateway as the daemon reports them (Computed; " +
        "a bridge's gateway Docker picked shows up after a daemon restart: upstream #54; an overlay's at once: moby " +
        "daemon/libnetwork/cnmallocator/networkallocator.go allocatePools, `ic.Gateway = gwIP`)",
      planned: (configs?: IpamInput[]) => configs && configs.map(ipamEntry),
      // A bridge reports only what it was given until the daemon restarts, then the gateway it picked: the first
      // address; the swarm allocator stores the first address in the overlay's IPAM config as it allocates the pool.
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

// ------------------------------------------------------------ swarm

/*
 * A swarm service is one resource made of a few large blocks, so its rules are
 * per top-level property, and each compares its whole block the way the
 * Terraform SDK's plan does (pulumi-docker plans with the provider's own SDK):
 * - an input left out equals the zero value the provider stores ("", 0,
 *   false, no elements), so both sides drop zeros (`tf`);
 * - an Optional+Computed field or block left out takes whatever is stored:
 *   nothing to compare (`keepComputed`);
 * - a TypeSet compares as a set (`tfSet`), a TypeList in order, a TypeMap as a map (`tfMap`);
 * - schema defaults fill what is left out.
 * Values are in the Pulumi input's shape. `toDaemon` is the provider's expand
 * (createServiceSpec), what the moby client it links adds before sending
 * (client/service_create.go, ServiceCreate) and what the manager keeps, in
 * `docker service inspect`'s shape; `read` is the provider's flatten.
 */

// Blocks are loosely typed JSON (Pulumi inputs, inspect replies): each function below reads the fields it names.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const SF = "internal/provider/resource_docker_service_funcs.go";
const SS = "internal/provider/resource_docker_service_structures.go";
const SEC = "internal/provider/resource_docker_secret.go";
const CFG = "internal/provider/resource_docker_config.go";

const isZero = (v: unknown) => v === undefined || v === null || v === "" || v === 0 || v === false || (Array.isArray(v) && v.length === 0);

/** A block as the SDK compares it: a zero field is the same as one left out. */
const tf = (block: Json): Json => Object.fromEntries(Object.entries(block).filter(([, v]) => !isZero(v)));

/** A TypeMap: nothing when empty, keys in one order. */
function tfMap(map: Record<string, unknown> | null | undefined): Record<string, string> | undefined {
  const entries = Object.entries(map ?? {});
  return entries.length ? Object.fromEntries(entries.map(([k, v]) => [k, String(v)]).sort(([a], [b]) => a.localeCompare(b))) : undefined;
}

/** JSON with keys sorted, so equal blocks print alike. */
function stableJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  return `{${Object.keys(value)
    .sort()
    .map((k) => `${JSON.stringify(k)}:${stableJson((value as Json)[k])}`)
    .join(",")}}`;
}

/** A TypeSet: one order, whatever order it was sent or read in. */
const tfSet = <T>(items: T[] | null | undefined): T[] => [...(items ?? [])].sort((a, b) => stableJson(a).localeCompare(stableJson(b)));

/** A label set ({label, value}, hashed by label: helpers.go hashLabel, mapToLabelSet). */
const labelSet = (labels: Record<string, string> | null | undefined) => tfSet(labelList(labels));

/** Optional+Computed fields the input leaves out keep what the provider stored: nothing to compare. */
const keepComputed = (read: Json, planned: Json, computed: readonly string[]): Json =>
  Object.fromEntries(Object.entries(read).filter(([k]) => !(computed.includes(k) && planned[k] === undefined)));

/** The provider parses every duration with time.ParseDuration and ignores the error: "" is 0. */
const nanos = (text: string | undefined) => Number(parseGoDuration(text || "0"));
const shortDurOf = (ns: number | undefined) => shortDur(BigInt(ns ?? 0));

/** mapStringSliceToMap (resource_docker_service_structures.go): `K=v=w` is K -> "v=w". */
function envMap(env: string[] | null | undefined): Record<string, string> {
  return Object.fromEntries((env ?? []).filter((e) => e.length > 0).map((e) => (e.includes("=") ? [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)] : [e, ""])));
}

function unknownKeys(block: unknown, known: readonly string[], at: string): string[] {
  if (!block || typeof block !== "object") return [];
  return Object.entries(block)
    .filter(([k, v]) => v !== undefined && !known.includes(k))
    .map(([k]) => `${at}.${k}`);
}

/**
 * The platforms the moby client writes into the placement when it queries the
 * registry, as the provider's create asks it to (`QueryRegistry = true` in
 * resourceDockerServiceCreate; client/service_create.go resolveContainerSpecImage:
 * `taskSpec.Placement.Platforms = imgPlatforms`, one per manifest of the image).
 * The program cannot know them before the registry answers.
 */
export const IMAGE_PLATFORMS = [{ Architecture: "(each platform of the image's manifest)", OS: "linux" }];

/**
 * The image as the manager keeps it: the moby client writes it in its familiar
 * form (client/service_create.go imageWithTagString: `docker.io/library/`
 * dropped, `:latest` added to a bare name) and pins a reference without a
 * digest to the one the registry answers (imageWithDigestString); a reference
 * with a digest stays as it is.
 */
export function serviceImage(image: string): string {
  const familiar = image.replace(/^(?:index\.)?docker\.io\//, "").replace(/^library\/(?=[^/]+$)/, "");
  if (/@sha256:[0-9a-f]{64}$/.test(familiar)) return familiar;
  const tagged = /:[^/]+$/.test(familiar) ? familiar : `${familiar}:latest`;
  return `${tagged}@sha256:(the digest the registry answers)`;
}

const CONTAINER_SPEC_KEYS = [
  "image", "labels", "commands", "args", "hostname", "env", "dir", "user", "groups", "readOnly", "mounts", "stopSignal",
  "stopGracePeriod", "healthcheck", "hosts", "dnsConfig", "secrets", "configs", "isolation", "sysctl", "capAdds", "capDrops", "init",
] as const;
const TASK_SPEC_KEYS = ["containerSpec", "resources", "restartPolicy", "placement", "forceUpdate", "runtime", "networksAdvanceds", "logDriver"] as const;
/** Optional+Computed in resourceDockerService's schema. */
const CONTAINER_SPEC_COMPUTED = ["stopGracePeriod", "healthcheck", "dnsConfig", "init"] as const;
const TASK_SPEC_COMPUTED = ["resources", "restartPolicy", "placement", "forceUpdate", "runtime"] as const;

const plannedFileRef = (idKey: string, nameKey: string) => (r: Json) =>
  // file_uid, file_gid default "0", file_mode 0o444 (schema defaults).
  tf({ [idKey]: r[idKey], [nameKey]: r[nameKey], fileName: r.fileName, fileUid: r.fileUid ?? "0", fileGid: r.fileGid ?? "0", fileMode: r.fileMode ?? 0o444 });

const plannedMount = (m: Json) =>
  tf({
    target: m.target,
    source: m.source,
    type: m.type,
    readOnly: m.readOnly,
    // propagation defaults to "rprivate", but only inside a bind_options block the input has.
    bindOptions: m.bindOptions && tf({ propagation: m.bindOptions.propagation ?? "rprivate" }),
    volumeOptions:
      m.volumeOptions &&
      tf({
        noCopy: m.volumeOptions.noCopy,
        labels: labelSet(labelMap(m.volumeOptions.labels)),
        driverName: m.volumeOptions.driverName,
        driverOptions: tfMap(m.volumeOptions.driverOptions),
      }),
    tmpfsOptions: m.tmpfsOptions && tf({ sizeBytes: m.tmpfsOptions.sizeBytes, mode: m.tmpfsOptions.mode }),
  });

function plannedContainerSpec(c: Json): Json {
  const h = c.healthcheck;
  return tf({
    image: c.image,
    labels: labelSet(labelMap(c.labels)),
    commands: c.commands,
    args: c.args,
    hostname: c.hostname,
    env: tfMap(c.env),
    dir: c.dir,
    user: c.user,
    groups: c.groups,
    readOnly: c.readOnly,
    mounts: tfSet((c.mounts ?? []).map(plannedMount)),
    stopSignal: c.stopSignal,
    stopGracePeriod: c.stopGracePeriod,
    // Every field defaults: interval, timeout, start_period "0s", retries 0.
    healthcheck: h && tf({ tests: h.tests, interval: h.interval ?? "0s", timeout: h.timeout ?? "0s", startPeriod: h.startPeriod ?? "0s", retries: h.retries ?? 0 }),
    hosts: tfSet((c.hosts ?? []).map((x: Json) => tf({ host: x.host, ip: x.ip }))),
    dnsConfig: c.dnsConfig && tf({ nameservers: c.dnsConfig.nameservers, search: c.dnsConfig.search, options: c.dnsConfig.options }),
    secrets: tfSet((c.secrets ?? []).map(plannedFileRef("secretId", "secretName"))),
    configs: tfSet((c.configs ?? []).map(plannedFileRef("configId", "configName"))),
    // Schema default "default".
    isolation: c.isolation ?? "default",
    sysctl: tfMap(c.sysctl),
    capAdds: c.capAdds,
    capDrops: c.capDrops,
    init: c.init,
  });
}

function plannedTaskSpec(t: Json | undefined): Json | undefined {
  if (!t) return undefined;
  const r = t.resources;
  const p = t.placement;
  return tf({
    containerSpec: plannedContainerSpec(t.containerSpec ?? {}),
    resources:
      r &&
      tf({
        limits: r.limits && tf({ nanoCpus: r.limits.nanoCpus, memoryBytes: r.limits.memoryBytes }),
        reservation:
          r.reservation &&
          tf({
            nanoCpus: r.reservation.nanoCpus,
            memoryBytes: r.reservation.memoryBytes,
            genericResources:
              r.reservation.genericResources &&
              tf({
                namedResourcesSpecs: tfSet(r.reservation.genericResources.namedResourcesSpecs),
                discreteResourcesSpecs: tfSet(r.reservation.genericResources.discreteResourcesSpecs),
              }),
          }),
      }),
    restartPolicy: t.restartPolicy && tf({ ...t.restartPolicy }),
    placement:
      p &&
      tf({
        constraints: tfSet(p.constraints),
        prefs: tfSet(p.prefs),
        platforms: tfSet((p.platforms ?? []).map((x: Json) => tf({ architecture: x.architecture, os: x.os }))),
        maxReplicas: p.maxReplicas,
      }),
    forceUpdate: t.forceUpdate,
    runtime: t.runtime,
    networksAdvanceds: tfSet(
      (t.networksAdvanceds ?? []).map((n: Json) => tf({ id: n.id, name: n.name, aliases: tfSet(n.aliases), driverOpts: tfSet(n.driverOpts) })),
    ),
    logDriver: t.logDriver && tf({ name: t.logDriver.name, options: tfMap(t.logDriver.options) }),
  });
}

/** createContainerSpec, then the moby client's image pinning. The SDK hands the provider every field, so a block the input leaves out is sent empty. */
function containerSpecToDaemon(c: Json): Json {
  const h = c.healthcheck ?? {};
  const fileRef = (idKey: string, nameKey: string, apiId: string, apiName: string) => (r: Json) => ({
    [apiId]: r[idKey],
    [apiName]: r[nameKey] ?? "",
    File: { Name: r.fileName, UID: r.fileUid ?? "", GID: r.fileGid ?? "", Mode: r.fileMode ?? 0 },
  });
  return {
    Image: serviceImage(c.image),
    Labels: labelMap(c.labels),
    Command: c.commands ?? [],
    Args: c.args ?? [],
    Hostname: c.hostname ?? "",
    Env: Object.entries(c.env ?? {}).map(([k, v]) => `${k}=${v}`),
    Dir: c.dir ?? "",
    User: c.user ?? "",
    Groups: c.groups ?? [],
    ReadOnly: c.readOnly ?? false,
    Mounts: (c.mounts ?? []).map((m: Json) => ({
      Type: m.type,
      Source: m.source ?? "",
      Target: m.target,
      ReadOnly: m.readOnly ?? false,
      // The manager keeps an options block only where one was sent (moby daemon/cluster/convert/container.go containerToGRPC, containerSpecFromGRPC).
      ...(m.bindOptions ? { BindOptions: { Propagation: m.bindOptions.propagation ?? "" } } : {}),
      ...(m.volumeOptions
        ? {
            VolumeOptions: {
              NoCopy: m.volumeOptions.noCopy ?? false,
              Labels: labelMap(m.volumeOptions.labels),
              DriverConfig: { Name: m.volumeOptions.driverName ?? "", Options: m.volumeOptions.driverOptions ?? {} },
            },
          }
        : {}),
      ...(m.tmpfsOptions ? { TmpfsOptions: { SizeBytes: m.tmpfsOptions.sizeBytes ?? 0, Mode: m.tmpfsOptions.mode ?? 0 } } : {}),
    })),
    StopSignal: c.stopSignal ?? "",
    StopGracePeriod: nanos(c.stopGracePeriod),
    Healthcheck: { Test: h.tests ?? [], Interval: nanos(h.interval), Timeout: nanos(h.timeout), StartPeriod: nanos(h.startPeriod), Retries: h.retries ?? 0 },
    Hosts: (c.hosts ?? []).map((x: Json) => `${x.ip} ${x.host}`),
    DNSConfig: { Nameservers: c.dnsConfig?.nameservers ?? [], Search: c.dnsConfig?.search ?? [], Options: c.dnsConfig?.options ?? [] },
    Secrets: (c.secrets ?? []).map(fileRef("secretId", "secretName", "SecretID", "SecretName")),
    Configs: (c.configs ?? []).map(fileRef("configId", "configName", "ConfigID", "ConfigName")),
    Isolation: c.isolation ?? "",
    Sysctls: c.sysctl ?? {},
    CapabilityAdd: c.capAdds ?? [],
    CapabilityDrop: c.capDrops ?? [],
    // Sent on every API version the provider negotiates from 1.37 on (supportsServiceContainerInit).
    Init: c.init ?? false,
  };
}

function taskSpecToDaemon(t: Json): Json {
  const r = t.resources ?? {};
  const rp = t.restartPolicy ?? {};
  const p = t.placement ?? {};
  const gr = r.reservation?.genericResources ?? {};
  return {
    ContainerSpec: containerSpecToDaemon(t.containerSpec ?? {}),
    Resources: {
      ...(r.limits ? { Limits: { NanoCPUs: r.limits.nanoCpus ?? 0, MemoryBytes: r.limits.memoryBytes ?? 0 } } : {}),
      ...(r.reservation
        ? {
            Reservations: {
              NanoCPUs: r.reservation.nanoCpus ?? 0,
              MemoryBytes: r.reservation.memoryBytes ?? 0,
              GenericResources: [
                ...(gr.namedResourcesSpecs ?? []).map((x: string) => ({ NamedResourceSpec: { Kind: x.split("=")[0], Value: x.split("=")[1] } })),
                ...(gr.discreteResourcesSpecs ?? []).map((x: string) => ({ DiscreteResourceSpec: { Kind: x.split("=")[0], Value: Number(x.split("=")[1]) } })),
              ],
            },
          }
        : {}),
    },
    RestartPolicy: { Condition: rp.condition ?? "", Delay: nanos(rp.delay), MaxAttempts: rp.maxAttempts ?? 0, Window: nanos(rp.window) },
    Placement: {
      Constraints: p.constraints ?? [],
      Preferences: (p.prefs ?? []).map((x: string) => ({ Spread: { SpreadDescriptor: x } })),
      MaxReplicas: p.maxReplicas ?? 0,
      // The client's, over whatever was sent.
      Platforms: IMAGE_PLATFORMS,
    },
    ForceUpdate: t.forceUpdate ?? 0,
    // The manager reports its container runtime (moby daemon/cluster/convert/service.go, serviceSpecFromGRPC).
    Runtime: "container",
    // The daemon resolves a target to the network's ID (daemon/cluster/services.go populateNetworkID).
    Networks: (t.networksAdvanceds ?? []).map((n: Json) => ({
      Target: n.id ?? `(the ID of ${n.name})`,
      Aliases: n.aliases ?? [],
      DriverOpts: Object.fromEntries((n.driverOpts ?? []).map((o: string) => [o.slice(0, o.indexOf("=")), o.slice(o.indexOf("=") + 1)])),
    })),
    ...(t.logDriver ? { LogDriver: { Name: t.logDriver.name, Options: t.logDriver.options ?? {} } } : {}),
  };
}

const readFileRef = (idKey: string, nameKey: string, apiId: string, apiName: string) => (r: Json) =>
  tf({ [idKey]: r[apiId], [nameKey]: r[apiName], fileName: r.File?.Name, fileUid: r.File?.UID, fileGid: r.File?.GID, fileMode: r.File?.Mode });

/** flattenContainerSpec. */
function readContainerSpec(c: Json, planned: Json): Json {
  const h = c.Healthcheck;
  const dns = c.DNSConfig;
  const read = tf({
    image: c.Image,
    labels: labelSet(c.Labels),
    commands: c.Command,
    args: c.Args,
    hostname: c.Hostname,
    env: tfMap(envMap(c.Env)),
    dir: c.Dir,
    user: c.User,
    groups: c.Groups,
    readOnly: c.ReadOnly,
    mounts: tfSet(
      (c.Mounts ?? []).map((m: Json) =>
        tf({
          target: m.Target,
          source: m.Source,
          type: m.Type,
          readOnly: m.ReadOnly,
          bindOptions: m.BindOptions && tf({ propagation: m.BindOptions.Propagation }),
          volumeOptions:
            m.VolumeOptions &&
            tf({
              noCopy: m.VolumeOptions.NoCopy,
              labels: labelSet(m.VolumeOptions.Labels),
              driverName: m.VolumeOptions.DriverConfig?.Name,
              driverOptions: tfMap(m.VolumeOptions.DriverConfig?.Options),
            }),
          // `int(Mode.Perm())`: the permission bits only.
          tmpfsOptions: m.TmpfsOptions && tf({ sizeBytes: m.TmpfsOptions.SizeBytes, mode: (m.TmpfsOptions.Mode ?? 0) & 0o777 }),
        }),
      ),
    ),
    stopSignal: c.StopSignal,
    stopGracePeriod: c.StopGracePeriod === undefined ? undefined : shortDurOf(c.StopGracePeriod),
    // flattenServiceHealthcheck: no start_interval in the schema.
    healthcheck: h && tf({ tests: h.Test, interval: shortDurOf(h.Interval), timeout: shortDurOf(h.Timeout), startPeriod: shortDurOf(h.StartPeriod), retries: h.Retries }),
    hosts: tfSet((c.Hosts ?? []).map((x: string) => ({ host: x.split(" ")[1], ip: x.split(" ")[0] }))),
    dnsConfig: dns && tf({ nameservers: dns.Nameservers, search: dns.Search, options: dns.Options }),
    secrets: tfSet((c.Secrets ?? []).map(readFileRef("secretId", "secretName", "SecretID", "SecretName"))),
    configs: tfSet((c.Configs ?? []).map(readFileRef("configId", "configName", "ConfigID", "ConfigName"))),
    isolation: c.Isolation,
    sysctl: tfMap(c.Sysctls),
    capAdds: c.CapabilityAdd,
    capDrops: c.CapabilityDrop,
    init: c.Init,
  });
  return keepComputed(read, planned, CONTAINER_SPEC_COMPUTED);
}

/** flattenTaskSpec. */
function readTaskSpec(t: Json, planned: Json): Json {
  const r = t.Resources;
  const rp = t.RestartPolicy;
  const p = t.Placement;
  const generic: Json[] = r?.Reservations?.GenericResources ?? [];
  const read = tf({
    containerSpec: t.ContainerSpec && readContainerSpec(t.ContainerSpec, planned.containerSpec ?? {}),
    resources:
      r &&
      tf({
        limits: r.Limits && tf({ nanoCpus: r.Limits.NanoCPUs, memoryBytes: r.Limits.MemoryBytes }),
        reservation:
          r.Reservations &&
          tf({
            nanoCpus: r.Reservations.NanoCPUs,
            memoryBytes: r.Reservations.MemoryBytes,
            genericResources:
              generic.length > 0
                ? tf({
                    namedResourcesSpecs: tfSet(generic.filter((g) => g.NamedResourceSpec).map((g) => `${g.NamedResourceSpec.Kind}=${g.NamedResourceSpec.Value}`)),
                    discreteResourcesSpecs: tfSet(generic.filter((g) => g.DiscreteResourceSpec).map((g) => `${g.DiscreteResourceSpec.Kind}=${g.DiscreteResourceSpec.Value}`)),
                  })
                : undefined,
          }),
      }),
    restartPolicy:
      rp &&
      tf({
        condition: rp.Condition,
        delay: rp.Delay === undefined ? undefined : shortDurOf(rp.Delay),
        maxAttempts: rp.MaxAttempts,
        window: rp.Window === undefined ? undefined : shortDurOf(rp.Window),
      }),
    placement:
      p &&
      tf({
        constraints: tfSet(p.Constraints),
        prefs: tfSet((p.Preferences ?? []).map((x: Json) => x.Spread?.SpreadDescriptor)),
        platforms: tfSet((p.Platforms ?? []).map((x: Json) => tf({ architecture: x.Architecture, os: x.OS }))),
        maxReplicas: p.MaxReplicas,
      }),
    forceUpdate: t.ForceUpdate,
    runtime: t.Runtime,
    // flattenTaskNetworksAdvanced: `id` is the target the manager keeps; `name` is never read.
    networksAdvanceds: tfSet(
      (t.Networks ?? []).map((n: Json) =>
        tf({ id: n.Target, aliases: tfSet(n.Aliases), driverOpts: tfSet(Object.entries(n.DriverOpts ?? {}).map(([k, v]) => `${k}=${v}`)) }),
      ),
    ),
    logDriver: t.LogDriver && tf({ name: t.LogDriver.Name, options: tfMap(t.LogDriver.Options) }),
  });
  return keepComputed(read, planned, TASK_SPEC_COMPUTED);
}

const UPDATE_DEFAULTS = { parallelism: 1, delay: "0s", failureAction: "pause", monitor: "5s", maxFailureRatio: "0.0", order: "stop-first" };

/** update_config and rollback_config: not Computed, every field with a schema default. */
const updateOrRollbackRule = (property: "updateConfig" | "rollbackConfig", specKey: "UpdateConfig" | "RollbackConfig"): FieldRule => ({
  property,
  forceNew: false,
  source: `${SS} flattenServiceUpdateOrRollbackConfig: delay and monitor through shortDur, max_failure_ratio as %.1f of a float32 (equal floats suppressed: validators.go suppressEquivalentFloatRatio)`,
  planned: (u?: Json) => u && tf({ ...UPDATE_DEFAULTS, ...tf(u) }),
  toDaemon: (u: Json) => ({
    Parallelism: u.parallelism ?? 0,
    Delay: nanos(u.delay),
    FailureAction: u.failureAction ?? "",
    Monitor: nanos(u.monitor),
    MaxFailureRatio: Math.fround(Number(u.maxFailureRatio ?? 0)),
    Order: u.order ?? "",
  }),
  pick: (i) => i.Spec?.[specKey] ?? null,
  read: (d: Json | null, planned: Json) => {
    if (!d) return undefined;
    const ratio = (d.MaxFailureRatio ?? 0).toFixed(1);
    return tf({
      parallelism: d.Parallelism,
      delay: shortDurOf(d.Delay),
      failureAction: d.FailureAction,
      monitor: shortDurOf(d.Monitor),
      maxFailureRatio: Number(ratio) === Number(planned.maxFailureRatio) ? planned.maxFailureRatio : ratio,
      order: d.Order,
    });
  },
});

const SERVICE: ResourceRules = {
  fields: [
    asIs("name", `${SF} resourceDockerServiceReadRefreshFunc: service.Spec.Name`, (i) => i.Spec?.Name),
    {
      property: "labels",
      forceNew: false,
      source: `${SF} resourceDockerServiceReadRefreshFunc: mapToLabelSet(service.Spec.Labels) (Optional+Computed)`,
      planned: (l) => (l === undefined ? undefined : labelSet(labelMap(l))),
      toDaemon: (l: { label: string; value: string }[]) => labelMap(l),
      pick: (i) => i.Spec?.Labels ?? {},
      read: (l: Record<string, string> | null) => labelSet(l),
    },
    {
      property: "taskSpec",
      // Most of it updates the service in place (a rolling restart); networks_advanced, hosts and sysctl are ForceNew.
      forceNew: false,
      forceNewPaths: ["taskSpec.networksAdvanceds", "taskSpec.containerSpec.hosts", "taskSpec.containerSpec.sysctl"],
      source: `${SS} flattenTaskSpec (every block and field: flattenContainerSpec, flattenServiceMounts, flattenServiceHealthcheck, flattenServiceSecrets, flattenServiceConfigs, flattenTaskResources, flattenTaskRestartPolicy, flattenTaskPlacement, flattenTaskNetworksAdvanced, flattenTaskLogDriver)`,
      planned: (t?: Json) => plannedTaskSpec(t),
      toDaemon: (t: Json) => taskSpecToDaemon(t),
      pick: (i) => i.Spec?.TaskTemplate,
      read: (t: Json, planned: Json) => readTaskSpec(t, planned),
      uncovered: (t?: Json) => [...unknownKeys(t, TASK_SPEC_KEYS, "taskSpec"), ...unknownKeys(t?.containerSpec, CONTAINER_SPEC_KEYS, "taskSpec.containerSpec")],
    },
    {
      property: "mode",
      // ForceNew on the block: adding or removing it replaces; a replica count is updated in place.
      forceNew: false,
      source: `${SS} flattenServiceMode: replicated.replicas (schema default 1), global as a bool (Optional+Computed)`,
      planned: (m?: Json) => m && tf({ replicated: m.replicated && tf({ replicas: m.replicated.replicas ?? 1 }), global: m.global }),
      toDaemon: (m: Json) => (m.global ? { Global: {} } : { Replicated: { Replicas: m.replicated?.replicas ?? 0 } }),
      pick: (i) => i.Spec?.Mode,
      read: (d: Json) => tf({ replicated: d.Replicated && tf({ replicas: d.Replicated.Replicas }), global: d.Global !== undefined }),
    },
    updateOrRollbackRule("updateConfig", "UpdateConfig"),
    updateOrRollbackRule("rollbackConfig", "RollbackConfig"),
    {
      property: "endpointSpec",
      forceNew: false,
      source: `${SF} resourceDockerServiceReadRefreshFunc: the allocated service.Endpoint (${SS} flattenServiceEndpoint); mode and published_port Computed, protocol "tcp" and publish_mode "ingress" by default`,
      planned: (e?: Json) =>
        e &&
        tf({
          mode: e.mode,
          ports: (e.ports ?? []).map((p: Json) =>
            tf({ name: p.name, protocol: p.protocol ?? "tcp", targetPort: p.targetPort, publishedPort: p.publishedPort, publishMode: p.publishMode ?? "ingress" }),
          ),
        }),
      toDaemon: (e: Json) => {
        const ports = (e.ports ?? []).map((p: Json) => ({
          Name: p.name ?? "",
          Protocol: p.protocol,
          TargetPort: p.targetPort,
          // The swarm allocator picks an ingress port from 30000 on where none is asked for.
          PublishedPort: p.publishedPort ?? 30000,
          PublishMode: p.publishMode,
        }));
        return { Spec: { Mode: e.mode ?? "vip", Ports: ports }, Ports: ports };
      },
      pick: (i) => (i.Endpoint?.Spec?.Mode ? i.Endpoint : { Spec: i.Spec?.EndpointSpec, Ports: i.Spec?.EndpointSpec?.Ports }),
      read: (d: Json, planned: Json) =>
        tf({
          mode: planned.mode === undefined ? undefined : d.Spec?.Mode,
          ports: (d.Ports ?? []).map((p: Json, n: number) =>
            tf({
              name: p.Name,
              protocol: p.Protocol,
              targetPort: p.TargetPort,
              publishedPort: planned.ports?.[n]?.publishedPort === undefined ? undefined : p.PublishedPort,
              publishMode: p.PublishMode,
            }),
          ),
        }),
    },
  ],
  notRead: {
    auth: `${SF} resourceDockerServiceReadRefreshFunc sets no auth: it is sent with each create and update (retrieveAndMarshalAuth)`,
    convergeConfig: `${SF} resourceDockerServiceCreate/Update only: how long to wait for the tasks`,
  },
};

const SECRET: ResourceRules = {
  fields: [asIs("name", `${SEC} resourceDockerSecretRead: secret.Spec.Name`, (i) => i.Spec?.Name)],
  notRead: {
    data: `${SEC} resourceDockerSecretRead: "secret data is not exposed via the API"`,
    labels: `${SEC} resourceDockerSecretRead sets the name only`,
  },
};

const SERVICE_CONFIG: ResourceRules = {
  fields: [
    asIs("name", `${CFG} resourceDockerConfigRead: config.Spec.Name`, (i) => i.Spec?.Name),
    {
      property: "data",
      forceNew: true,
      source: `${CFG} resourceDockerConfigCreate decodes it with base64.StdEncoding; resourceDockerConfigRead: base64.StdEncoding.EncodeToString(config.Spec.Data)`,
      planned: ifSet,
      // The inspect JSON carries the bytes as standard base64 (Go's encoding/json for []byte).
      toDaemon: (data: string) => Buffer.from(data, "base64").toString("base64"),
      pick: (i) => i.Spec?.Data,
      read: (data: string) => data,
    },
    labelsRule(
      `${CFG} resourceDockerConfigRead: mapToLabelSet(config.Spec.Labels)`,
      (l) => (l === undefined ? undefined : labelMap(l)),
      (i) => i.Spec?.Labels ?? {},
    ),
  ],
  notRead: {},
};

/** Every resource type the program creates, by its Pulumi type token. */
export const READ_BACK_RULES: Record<string, ResourceRules> = {
  "docker:index/container:Container": CONTAINER,
  "docker:index/network:Network": NETWORK,
  "docker:index/volume:Volume": VOLUME,
  "docker:index/service:Service": SERVICE,
  "docker:index/secret:Secret": SECRET,
  "docker:index/serviceConfig:ServiceConfig": SERVICE_CONFIG,
};

// ------------------------------------------------------------ comparing

/** One field whose stored value will differ from what the program sends. */
export interface ReadBackDiff {
  property: string;
  /** Replaced on every `up` (true) or updated on every `up`. */
  replaces: boolean;
  sent: unknown;
  readBack: unknown;
  /** Where inside the property the two differ (`taskSpec.placement.platforms`); the property alone for a plain value. */
  paths: string[];
  source: string;
}

/** The paths below `at` where `a` and `b` differ: keys of objects, indices of arrays. */
export function differingPaths(a: unknown, b: unknown, at: string): string[] {
  if (isDeepStrictEqual(a, b)) return [];
  const bothObjects = a !== null && b !== null && typeof a === "object" && typeof b === "object" && Array.isArray(a) === Array.isArray(b);
  if (!bothObjects) return [at];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
  return keys.flatMap((k) => differingPaths((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], Array.isArray(a) ? `${at}[${k}]` : `${at}.${k}`));
}

/** `value` without what lies at `path` (property names, as in Pulumi's ignoreChanges). */
function withoutPath(value: unknown, path: string[]): unknown {
  if (path.length === 0 || value === null || typeof value !== "object" || Array.isArray(value)) return value;
  const [head, ...rest] = path;
  const { [head]: inner, ...others } = value as Record<string, unknown>;
  return rest.length === 0 || inner === undefined ? others : { ...others, [head]: withoutPath(inner, rest) };
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
  const nested = rules.fields.flatMap((f) => (inputs[f.property] === undefined ? [] : (f.uncovered?.(inputs[f.property]) ?? [])));
  return [...Object.keys(inputs).filter((p) => inputs[p] !== undefined && !known.has(p)), ...nested];
}

/**
 * Compares the inputs with what the provider stores, either simulated for an
 * engine (`daemon: EngineFacts`) or read from a real daemon's inspect JSON.
 * `ignoreChanges` is the resource's option: Pulumi sends the stored value at
 * those paths, so they never differ.
 */
export function readBackDiffs(
  type: string,
  inputs: Record<string, unknown>,
  daemon: { engine: EngineFacts } | { inspect: unknown },
  ignoreChanges: readonly string[] = [],
): ReadBackDiff[] {
  const diffs: ReadBackDiff[] = [];
  for (const rule of rulesFor(type).fields) {
    const planned = rule.planned?.(inputs[rule.property]);
    if (planned === undefined) continue;
    const stored = "engine" in daemon ? rule.toDaemon(planned, daemon.engine) : rule.pick(daemon.inspect as Inspected);
    const ignored = ignoreChanges.map((p) => p.split(".")).filter(([head, ...rest]) => head === rule.property && rest.length > 0);
    const strip = (value: unknown) => ignored.reduce((v, [, ...rest]) => withoutPath(v, rest), value);
    const sent = strip(planned);
    const readBack = strip(rule.read(stored, planned));
    const [a, b] = [canonical(sent, !!rule.unordered), canonical(readBack, !!rule.unordered)];
    if (!isDeepStrictEqual(a, b)) {
      const paths = differingPaths(a, b, rule.property);
      const replaces = rule.forceNew || paths.some((p) => (rule.forceNewPaths ?? []).some((f) => p === f || p.startsWith(`${f}.`) || p.startsWith(`${f}[`)));
      diffs.push({ property: rule.property, replaces, sent, readBack, paths, source: rule.source });
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
  `${d.property} is sent as ${JSON.stringify(d.sent)} and read back as ${JSON.stringify(d.readBack)}, differing at ${d.paths.join(", ")} (${d.replaces ? "a replacement" : "an update"} on every up; ${d.source})`;
