/**
 * `verify`: checks a live Docker host against what one or more stacks say it
 * should contain. The library entry point is `verify()`; cli.ts wraps it.
 * Each stack is checked for the runtime its outputs name: a `docker` stack's
 * containers on the daemon, a `swarm` stack's services through that daemon as
 * the swarm's manager (swarm.ts); the drill and redirect checks are both's.
 */
import type Docker from "dockerode";
import {
  checkContainers,
  checkDefinitions,
  checkEdge,
  checkImages,
  checkNetworks,
  checkNeighbours,
  checkNetworkMembers,
  checkRouters,
  checkTraefikNetwork,
  checkVolumes,
  type CheckResult,
} from "./checks";
import { assertDaemon, dockerClient } from "../../host/docker";
import { DEFAULT_PROBE_OPTIONS, isolationChecks, planProbes, runProbes, summarise, type IsolationSummary, type ProbeOptions } from "./isolation";
import type { StackOutputs } from "./outputs";
import { checkDrillResult } from "./drill";
import { checkRedirects, type RedirectProbe } from "./redirects";
import { takeSnapshot } from "./snapshot";
import { swarmNodeClients, verifySwarm, type NodeClient } from "./swarm";

export interface VerifyOptions {
  stacks: { stack: string; outputs: StackOutputs }[];
  docker?: Docker;
  /** Probe settings; `false` skips the isolation probes (every other check still runs). */
  probe?: Partial<ProbeOptions> | false;
  /** Also GET each public host over plain HTTP and expect a permanent redirect to https (opt-in: needs the hosts to answer from here). */
  redirects?: RedirectProbe | false;
  /** The restore drill's result file per stack (`npm run drill --out`); a stack named here fails when its file is missing, failed or older than the RPO. */
  drillResults?: Record<string, string>;
  /** Swarm stacks: clients of the swarm's other nodes, matched to their node by `info().Swarm.NodeID`; a probe runs in a task on a node it has a client for. */
  nodes?: NodeClient[];
}

export interface VerifyReport {
  ok: boolean;
  daemon: { host: string; version: string };
  stacks: string[];
  checks: CheckResult[];
  isolation: IsolationSummary[];
  failed: string[];
  /** Per environment, the pinned image of each app service verify checked (service → `repository@sha256:…`). `npm run promote` reads it. */
  images: Record<string, Record<string, string>>;
  durationMs: number;
}

export async function verify(options: VerifyOptions): Promise<VerifyReport> {
  const started = Date.now();
  const docker = options.docker ?? dockerClient();
  const version = await assertDaemon(docker);
  const host = process.env.DOCKER_HOST ?? "unix:///var/run/docker.sock";
  const all = options.stacks.map((s) => s.outputs);
  const onDocker = all.filter((o) => o.runtime === "docker");
  const swarmStacks = options.stacks.filter((s) => s.outputs.runtime === "swarm");
  const probe: ProbeOptions = { ...DEFAULT_PROBE_OPTIONS, ...(options.probe || {}) };

  const checks: CheckResult[] = [];
  const snapshot = onDocker.length > 0 ? await takeSnapshot(docker) : undefined;
  if (snapshot) {
    checks.push(...[...new Set(onDocker.map((o) => o.edge.traefikNetwork))].map((name) => checkTraefikNetwork(snapshot, name)));
    checks.push(...checkNeighbours(snapshot, [...new Set(onDocker.flatMap((o) => o.neighbours))]));
    checks.push(checkRouters(snapshot), checkDefinitions(snapshot));
    const perStack = [checkNetworks, checkNetworkMembers, checkVolumes, checkEdge, checkContainers, checkImages];
    for (const outputs of onDocker) for (const check of perStack) checks.push(...check(snapshot, outputs));
  }

  if (swarmStacks.length > 0) {
    const nodes = await swarmNodeClients({ host, docker }, options.nodes ?? []);
    const swarm = await verifySwarm({
      stacks: swarmStacks,
      manager: docker,
      nodes,
      probe: options.probe !== false,
      timeoutSeconds: probe.timeoutSeconds,
      concurrency: probe.concurrency,
    });
    checks.push(...swarm.checks);
  }

  for (const { stack, outputs } of options.stacks) {
    const file = options.drillResults?.[stack];
    if (file) checks.push(checkDrillResult(stack, outputs.environment, file));
  }

  if (options.redirects) for (const outputs of all) checks.push(...(await checkRedirects(outputs, options.redirects)));

  const isolation: IsolationSummary[] = [];
  if (options.probe !== false && snapshot) {
    // Stacks one after the other, each with bounded concurrency inside.
    for (const outputs of onDocker) {
      const plans = planProbes(snapshot, outputs, probe.defaultPorts);
      const summary = summarise(outputs, plans, await runProbes(docker, plans, probe));
      isolation.push(summary);
      checks.push(...isolationChecks(summary));
    }
  }

  const failed = checks.filter((c) => !c.ok).map((c) => c.id);
  return {
    ok: failed.length === 0,
    daemon: { host, version },
    stacks: options.stacks.map((s) => s.stack),
    checks,
    isolation,
    failed,
    images: Object.fromEntries(all.map((o) => [o.environment, Object.fromEntries(Object.entries(o.images).map(([service, r]) => [service, r.image]))])),
    durationMs: Date.now() - started,
  };
}
