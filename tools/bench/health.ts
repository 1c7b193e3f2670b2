/**
 * Health-detection figures for `npm run bench`:
 *   - the modelled wait between "software ready" and "Docker says healthy",
 *     summed along the cold-deploy critical path and for a one-service rollout,
 *     before (first check one full interval after start) and after startInterval;
 *   - the CPU one RabbitMQ healthcheck costs, old and new, measured against a
 *     real rabbitmq-server from Debian's packages when one is installed.
 */
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { STORES } from "../../catalog/stores";
import { healthDetectionSeconds } from "../../model/environment";
import { LABELS } from "../../model/naming";
import { TYPES, type ProgramRun, type RegisteredResource } from "../../testing/mock-engine";
import { startRabbitmq } from "../../testing/servers/rabbitmq";

type Mode = Parameters<typeof healthDetectionSeconds>[1];

type Chain = { weight: number; path: string[] };

/** The heaviest chain of containers that wait on containers (dependsOn), each container weighing `weight`. */
export function heaviestChain(run: ProgramRun, weight: (container: RegisteredResource) => number): Chain {
  const containers = new Map(run.resources.filter((r) => r.type === TYPES.container).map((r) => [r.urn, r]));
  const best = new Map<string, Chain>();
  const heavier = (a: Chain, b: Chain) => (b.weight > a.weight ? b : a);
  const visit = (urn: string): Chain => {
    if (!best.has(urn)) {
      const c = containers.get(urn)!;
      const longest = c.options.dependsOn.filter((d) => containers.has(d)).map(visit).reduce(heavier, { weight: 0, path: [] });
      best.set(urn, { weight: longest.weight + weight(c), path: [...longest.path, c.name] });
    }
    return best.get(urn)!;
  };
  return [...containers.keys()].map(visit).reduce(heavier);
}

/** The largest sum of detection delays along any chain of containers that wait on containers. */
export function criticalPathDetection(run: ProgramRun, mode: Mode): { seconds: number; path: string[] } {
  const { weight, path } = heaviestChain(run, (c) => healthDetectionSeconds(c.inputs.healthcheck.startPeriod, mode));
  return { seconds: weight, path };
}

/** `service`: the one a one-service rollout replaces (its new container must turn healthy before `up` moves on). */
export function healthDetectionRows(run: ProgramRun, stack: string, service: string) {
  const rolled = run.resources.find((r) => r.type === TYPES.container && r.inputs.labels.some((l: { label: string; value: string }) => l.label === LABELS.service && l.value === service))!;
  return (["interval-only", "start-interval"] as Mode[]).map((mode) => {
    const path = criticalPathDetection(run, mode);
    return {
      stack,
      model: mode === "interval-only" ? "before (first check after one interval)" : "after (startInterval while starting)",
      coldDeployPathS: path.seconds,
      pathLength: path.path.length,
      [`rollout of ${service} (s)`]: healthDetectionSeconds(rolled.inputs.healthcheck.startPeriod, mode),
    };
  });
}

/** CPU seconds (user + system) the children of one bash run used: `times` prints them on its second line. */
function childCpuSeconds(script: string, env: NodeJS.ProcessEnv): number {
  const times = execFileSync("bash", ["-c", `${script}\ntimes`], { env, encoding: "utf8" }).trim().split("\n").pop()!;
  return [...times.matchAll(/(\d+)m([\d.]+)s/g)].reduce((sum, m) => sum + Number(m[1]) * 60 + Number(m[2]), 0);
}

export async function rabbitmqCheckCost(): Promise<Record<string, string | number>[] | string> {
  if (!existsSync("/usr/lib/rabbitmq/bin/rabbitmq-diagnostics")) return "rabbitmq-server is not installed (Debian package rabbitmq-server): skipped";
  const server = await startRabbitmq();
  try {
    const [, program, ...args] = STORES.rabbitmq.health.kind === "command" ? STORES.rabbitmq.health.test : [];
    const quoted = (words: string[]) => words.map((w) => `'${w.replace(/'/g, `'\\''`)}'`).join(" ");
    const checks = [
      { check: "rabbitmq-diagnostics -q ping (before)", command: `/usr/lib/rabbitmq/bin/rabbitmq-diagnostics -q -n ${server.nodeName} ping >/dev/null`, calls: 5 },
      { check: `catalog's: ${[program, ...args].join(" ")} (after)`, command: quoted([program, ...args.map((a) => a.replace("/5672", `/${server.port}`))]), calls: 100 },
    ];
    return checks.map(({ check, command, calls }) => {
      const cpu = childCpuSeconds(`for i in $(seq ${calls}); do ${command} || exit 1; done`, server.cliEnv);
      return { check, calls, cpuSecondsPerCall: Number((cpu / calls).toFixed(4)) };
    });
  } finally {
    await server.stop();
  }
}
