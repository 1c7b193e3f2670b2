/**
 * Isolation, measured: from inside each running container of an environment,
 * a TCP connect to every address of every container of every other
 * environment (and of the neighbours), which must all fail, and to each of its
 * own dependencies (`alias:port`), which must all succeed.
 *
 * "From inside" means in the container's own network namespace. By default
 * (`exec`) one docker exec per container runs a small sh script that tries
 * every target at once, with `nc -z -w` where nc has -z (busybox in Alpine
 * images) or bash's /dev/tcp under `timeout` (Debian/UBI images). It needs
 * those tools in the image; a container without them is reported as not
 * probed, never as isolated. `sidecar` starts a short-lived container from
 * --probe-image with `NetworkMode: container:<id>` instead, which sees exactly
 * the same interfaces, routes and DNS and works for images without a shell;
 * it needs the probe image on the host, so it is opt-in.
 */
import { demux, execIn } from "../../host/exec";
import type Docker from "dockerode";
import { LABELS, PROJECT } from "../../model/naming";
import { containersOf, stackChecks, type CheckResult } from "./checks";
import type { StackOutputs } from "./outputs";
import { mapBounded, type ContainerView, type HostSnapshot } from "./snapshot";

export interface Attempt {
  kind: "cross-environment" | "neighbour" | "dependency";
  from: string;
  /** Target container name, or the alias of a dependency. */
  to: string;
  /** The target's environment, for cross-environment attempts. */
  toEnvironment?: string;
  /** IP address (or alias, for dependencies) and port. */
  address: string;
  port: number;
  /** The network the target address lives on. */
  network?: string;
  /** Whether the source is attached to that network too (a shared network). */
  shared: boolean;
}

export interface AttemptResult extends Attempt {
  connected: boolean;
}

export interface ProbePlan {
  source: ContainerView;
  attempts: Attempt[];
}

export interface ProbeOptions {
  mode: "sidecar" | "exec";
  /** Image of the sidecar probe (sidecar mode). */
  image: string;
  /** Connect timeout, whole seconds. */
  timeoutSeconds: number;
  /** Sources probed at once. */
  concurrency: number;
  /** Ports tried on targets that carry no port label (neighbours). */
  defaultPorts: number[];
  /** Labels put on probe containers, e.g. a test-run label. */
  labels?: Record<string, string>;
}

export const DEFAULT_PROBE_OPTIONS: ProbeOptions = {
  mode: "exec",
  image: "busybox:stable",
  timeoutSeconds: 2,
  concurrency: 6,
  defaultPorts: [80, 443, 3000, 8080],
};

/** What probes a source's namespace: prints `R <index> <exit code>` per target. $1 is the timeout; the rest are host:port. */
export const PROBE_SCRIPT = `T="$1"; shift
if { nc -h 2>&1; nc --help 2>&1; } | grep -q -- '-z'; then M=nc
elif command -v bash >/dev/null 2>&1 && command -v timeout >/dev/null 2>&1; then M=bash
else echo "E this image has neither nc with -z nor bash and timeout"; exit 3; fi
i=0
for t in "$@"; do
  h="\${t%:*}"; p="\${t##*:}"
  (
    if [ "$M" = nc ]; then nc -z -w "$T" "$h" "$p" </dev/null >/dev/null 2>&1
    else timeout "$T" bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$h" "$p" </dev/null >/dev/null 2>&1; fi
    echo "R $i $?"
  ) &
  i=$((i+1))
done
wait`;

const portOf = (c: ContainerView, defaults: number[]): number[] => {
  const label = Number(c.labels[LABELS.port]);
  return Number.isInteger(label) && label > 0 ? [label] : defaults;
};

/** Who each running container of `outputs.environment` should and should not reach. Pure. */
export function planProbes(snapshot: HostSnapshot, outputs: StackOutputs, defaultPorts: number[]): ProbePlan[] {
  const env = outputs.environment;
  const others = snapshot.containers.filter(
    (c) => c.state === "running" && c.labels[LABELS.project] === PROJECT && c.labels[LABELS.environment] !== env,
  );
  const neighbours = snapshot.containers.filter((c) => c.state === "running" && outputs.neighbours.includes(c.name));
  const sources = containersOf(snapshot, env).filter((c) => c.state === "running");
  return sources.map((source) => {
    const attempts: Attempt[] = [];
    const reach = (target: ContainerView, kind: Attempt["kind"]) => {
      for (const [network, { ip }] of Object.entries(target.networks)) {
        if (!ip) continue;
        for (const port of portOf(target, defaultPorts)) {
          attempts.push({
            kind,
            from: source.name,
            to: target.name,
            toEnvironment: target.labels[LABELS.environment],
            address: ip,
            port,
            network,
            shared: network in source.networks,
          });
        }
      }
    };
    for (const t of others) reach(t, "cross-environment");
    for (const t of neighbours) reach(t, "neighbour");
    for (const dep of outputs.topology[source.labels[LABELS.service]]?.dependencies ?? []) {
      const [alias, port] = [dep.slice(0, dep.lastIndexOf(":")), Number(dep.slice(dep.lastIndexOf(":") + 1))];
      attempts.push({ kind: "dependency", from: source.name, to: alias, address: alias, port, shared: true });
    }
    return { source, attempts };
  });
}

/** Reads the probe script's output: the exit code of each target, by index. */
export function parseProbeOutput(text: string, count: number): { codes: (number | undefined)[]; error?: string } {
  const codes: (number | undefined)[] = new Array(count).fill(undefined);
  let error: string | undefined;
  for (const line of text.split(/\r?\n/)) {
    const r = /^R (\d+) (\d+)$/.exec(line.trim());
    if (r && Number(r[1]) < count) codes[Number(r[1])] = Number(r[2]);
    else if (line.startsWith("E ")) error = line.slice(2).trim();
  }
  return { codes, error };
}

async function probeBySidecar(docker: Docker, source: ContainerView, args: string[], opts: ProbeOptions): Promise<string> {
  const container = await docker.createContainer({
    Image: opts.image,
    Entrypoint: ["sh", "-c", PROBE_SCRIPT, "probe"],
    Cmd: args,
    User: "65534:65534",
    Labels: { "pt.portugalodyssey.verify-probe": source.name, ...opts.labels },
    HostConfig: {
      NetworkMode: `container:${source.id}`,
      CapDrop: ["ALL"],
      SecurityOpt: ["no-new-privileges:true"],
      ReadonlyRootfs: true,
      Memory: 256 * 1024 * 1024,
      LogConfig: { Type: "json-file", Config: {} },
    },
  });
  try {
    await container.start();
    await container.wait();
    const logs = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    return demux(logs);
  } finally {
    await container.remove({ force: true }).catch(() => undefined);
  }
}

export interface ProbeRun {
  results: AttemptResult[];
  /** Sources that could not be probed, with why. */
  errors: string[];
}

export async function runProbes(docker: Docker, plans: ProbePlan[], opts: ProbeOptions): Promise<ProbeRun> {
  const errors: string[] = [];
  const perSource = await mapBounded(plans, opts.concurrency, async ({ source, attempts }) => {
    if (attempts.length === 0) return [];
    const args = [String(opts.timeoutSeconds), ...attempts.map((a) => `${a.address}:${a.port}`)];
    let text: string;
    try {
      // The probe reports each target's result on its output; its own exit code says nothing more.
      if (opts.mode === "exec") text = (await execIn(docker, source.id, ["sh", "-c", PROBE_SCRIPT, "probe", ...args], { allowFailure: true })).output;
      else text = await probeBySidecar(docker, source, args, opts);
    } catch (err) {
      errors.push(`${source.name}: could not probe (${opts.mode}${opts.mode === "sidecar" ? `, image ${opts.image}` : ""}): ${(err as Error).message}`);
      return [];
    }
    const { codes, error } = parseProbeOutput(text, attempts.length);
    if (error || codes.some((c) => c === undefined)) {
      errors.push(`${source.name}: probe gave no answer for ${codes.filter((c) => c === undefined).length} target(s)${error ? `: ${error}` : ""}`);
    }
    return attempts.map((a, i) => ({ ...a, connected: codes[i] === 0 }));
  });
  return { results: perSource.flat(), errors };
}

export interface Counts {
  attempted: number;
  succeeded: number;
  /** How many should have succeeded: 0 for isolation attempts, all of them for dependencies. */
  expected: number;
}

export interface IsolationSummary {
  environment: string;
  edgeMode: "isolated" | "shared";
  sources: number;
  total: Counts;
  crossEnvironment: Counts;
  neighbour: Counts;
  dependency: Counts;
  /** Isolation attempts that connected. */
  leaks: AttemptResult[];
  /** Leaks over a network the source shares with the target (the traefik network, in shared mode). */
  leaksByNetwork: Record<string, number>;
  /** Dependencies that did not connect. */
  unreachable: AttemptResult[];
  errors: string[];
}

export function summarise(outputs: StackOutputs, plans: ProbePlan[], run: ProbeRun): IsolationSummary {
  const count = (kind: Attempt["kind"]): Counts => {
    const of = run.results.filter((r) => r.kind === kind);
    return { attempted: of.length, succeeded: of.filter((r) => r.connected).length, expected: kind === "dependency" ? of.length : 0 };
  };
  const [crossEnvironment, neighbour, dependency] = [count("cross-environment"), count("neighbour"), count("dependency")];
  const leaks = run.results.filter((r) => r.kind !== "dependency" && r.connected);
  const leaksByNetwork: Record<string, number> = {};
  for (const l of leaks) {
    const key = l.shared ? l.network ?? "?" : `(not shared) ${l.network ?? "?"}`;
    leaksByNetwork[key] = (leaksByNetwork[key] ?? 0) + 1;
  }
  return {
    environment: outputs.environment,
    edgeMode: outputs.edge.mode,
    sources: plans.length,
    total: { attempted: run.results.length, succeeded: run.results.filter((r) => r.connected).length, expected: dependency.expected },
    crossEnvironment,
    neighbour,
    dependency,
    leaks,
    leaksByNetwork,
    unreachable: run.results.filter((r) => r.kind === "dependency" && !r.connected),
    errors: run.errors,
  };
}

const describeAttempt = (a: AttemptResult) =>
  a.kind === "dependency"
    ? `${a.from} -> ${a.address}:${a.port}`
    : `${a.from} -> ${a.to} ${a.address}:${a.port} on ${a.network}${a.shared ? ` (a network ${a.from} is on too)` : ""}`;

/** The counts, then (up to 8 of) the attempts that went wrong, after `label`. */
function figures(c: Counts, label: string, wrong: AttemptResult[]): string {
  const shown = wrong.slice(0, 8).map(describeAttempt).join("; ") + (wrong.length > 8 ? `; and ${wrong.length - 8} more` : "");
  return `${c.attempted} attempted, ${c.succeeded} succeeded, ${c.expected} expected` + (wrong.length > 0 ? `; ${label}: ${shown}` : "");
}

export function isolationChecks(s: IsolationSummary): CheckResult[] {
  const env = s.environment;
  const check = stackChecks("isolation", env);
  const leaks = (kind: Attempt["kind"]) => s.leaks.filter((l) => l.kind === kind);
  const byNet = Object.entries(s.leaksByNetwork).map(([n, k]) => `${k} over ${n}`).join(", ");
  const probed = s.errors.length > 0 ? s.errors.join("; ") : s.sources === 0 ? `no running ${env} container to probe from` : `${s.sources} containers probed`;
  const crossFigures = figures(s.crossEnvironment, `LEAKS (${s.edgeMode} edge${byNet ? `, ${byNet}` : ""})`, leaks("cross-environment"));
  return [
    check("probes", `every running ${env} container could be probed`, s.errors.length === 0 && s.sources > 0, probed),
    check("cross-environment", `no ${env} container reaches another environment's containers`, s.crossEnvironment.succeeded === 0, crossFigures),
    check("neighbours", `no ${env} container reaches the neighbours`, s.neighbour.succeeded === 0, figures(s.neighbour, "LEAKS", leaks("neighbour"))),
    check(
      "dependencies",
      `every ${env} container reaches its own dependencies`,
      s.unreachable.length === 0,
      figures(s.dependency, "UNREACHABLE", s.unreachable),
    ),
  ];
}
