/**
 * Applies what the program registered on Pulumi's mock engine to a real Docker
 * daemon: its networks, volumes and containers, exactly as registered (names,
 * networks, aliases, labels, env, healthchecks, restart policy, hostname,
 * command, user, read-only root and tmpfs, capabilities, security options,
 * limits, log options), except that every image is the local stand-in: an app
 * service runs it by the digest its release pins (the stand-in pushed to a
 * local registry under the service's repository), a store by its tag. Its
 * edge commands are carried out with bash. Everything created carries the
 * test-run label and is removed by it.
 *
 * It creates each container the way the docker provider does
 * (kreuzwerker internal/provider/resource_docker_container_funcs.go,
 * resourceDockerContainerCreate): on the default bridge (network_mode's
 * default), then the bridge disconnected and each network connected with its
 * aliases; every volume and host path as a `Binds` entry
 * (resource_docker_container_structures.go, volumeSetToDockerVolumes); Init
 * false; uploads copied in before start; and, with `wait`, started and waited
 * for healthy before anything that depends on it is created. Afterwards
 * `readBackDiffs` reads everything back through the provider's rules
 * (model/read-back.ts): what a second apply would change.
 */
import { spawnSync } from "node:child_process";
import type Docker from "dockerode";
import * as tar from "tar-stream";
import { TYPES, type ProgramRun, type RegisteredResource } from "../harness/program";
import { READ_BACK_RULES, createRefusals, describeReadBackDiff, parseCpus, parseGoDuration, readBackDiffs, type EngineFacts } from "../../model/read-back";

export const RUN_LABEL = "pt.portugalodyssey.test-run";

/** Container inputs this applier carries over to the daemon. */
const APPLIED = new Set([
  "name", "image", "envs", "labels", "networksAdvanced", "networkMode", "healthcheck", "restart", "hostname", "command", "entrypoints", "user",
  "readOnly", "tmpfs", "capabilities", "securityOpts", "memory", "memorySwap", "cpus", "logDriver", "logOpts", "volumes", "uploads",
]);

interface Upload {
  file: string;
  content: string;
  permissions?: string;
}

/** The uploads as one tar archive rooted at `/`, as the provider copies them in between create and start. */
async function uploadsArchive(uploads: Upload[]): Promise<Buffer> {
  const pack = tar.pack();
  for (const u of uploads) pack.entry({ name: u.file.replace(/^\//, ""), mode: parseInt(u.permissions ?? "0644", 8) }, u.content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
/** Inputs that tell the Pulumi provider how to act, not what the container is. */
const PROVIDER_ONLY = new Set(["wait", "waitTimeout", "mustRun", "destroyGraceSeconds"]);

/** `10s`, `1m30s`, `500ms` → nanoseconds, as the provider parses them (Go's time.ParseDuration) for the Engine API. */
export const durationNs = (text: string): number => Number(parseGoDuration(text));

const labelMap = (labels: { label: string; value: string }[] | undefined) =>
  Object.fromEntries((labels ?? []).map((l) => [l.label, l.value]));

/** One volume entry as the provider binds it: `source:target:rw|ro`, the host path taking the volume name's place. */
const bind = (v: { volumeName?: string; hostPath?: string; containerPath: string; readOnly?: boolean }) =>
  `${v.hostPath || v.volumeName}:${v.containerPath}:${v.readOnly ? "ro" : "rw"}`;

/**
 * The Engine API create body for a registered container, created on the
 * default bridge; `networks` are connected after create, the bridge first
 * disconnected, as the provider does.
 */
export function containerSpec(r: RegisteredResource, image: string, runId: string) {
  const i = r.inputs;
  const unknown = Object.keys(i).filter((k) => !APPLIED.has(k) && !PROVIDER_ONLY.has(k));
  if (unknown.length > 0) throw new Error(`${r.name}: the e2e applier does not know how to apply input(s) ${unknown.join(", ")}; teach test/e2e/applier.ts`);
  const networks: { name: string; aliases?: string[] }[] = i.networksAdvanced ?? [];
  const MiB = 1024 * 1024;
  const body: Docker.ContainerCreateOptions = {
    name: i.name,
    Image: image,
    Env: i.envs ?? [],
    Labels: { ...labelMap(i.labels), [RUN_LABEL]: runId },
    Hostname: i.hostname,
    Cmd: i.command,
    Entrypoint: i.entrypoints,
    User: i.user,
    Healthcheck: i.healthcheck && {
      Test: i.healthcheck.tests,
      Interval: durationNs(i.healthcheck.interval),
      Timeout: durationNs(i.healthcheck.timeout),
      StartPeriod: durationNs(i.healthcheck.startPeriod),
      ...(i.healthcheck.startInterval ? { StartInterval: durationNs(i.healthcheck.startInterval) } : {}),
      Retries: i.healthcheck.retries,
    },
    HostConfig: {
      // network_mode's schema default; the provider sends it and then moves the container to its networks.
      NetworkMode: i.networkMode ?? "bridge",
      Init: false,
      RestartPolicy: i.restart ? { Name: i.restart } : undefined,
      ReadonlyRootfs: i.readOnly ?? false,
      Tmpfs: i.tmpfs,
      CapDrop: i.capabilities?.drops,
      CapAdd: i.capabilities?.adds,
      SecurityOpt: i.securityOpts,
      Memory: i.memory ? i.memory * MiB : undefined,
      // Positive: MiB; -1 (unlimited) as is.
      MemorySwap: i.memorySwap ? (i.memorySwap > 0 ? i.memorySwap * MiB : i.memorySwap) : undefined,
      NanoCpus: i.cpus ? Number(parseCpus(i.cpus)) : undefined,
      LogConfig: i.logDriver ? { Type: i.logDriver, Config: i.logOpts ?? {} } : undefined,
      Binds: (i.volumes ?? []).map(bind),
    },
  };
  return { body, networks: networks.map((n) => ({ network: n.name, endpoint: { Aliases: n.aliases ?? [] } })), uploads: (i.uploads ?? []) as Upload[] };
}

type Attachment = { network: string; endpoint: { Aliases: string[] } };

export class Applier {
  /** The image ID a pulled app image has in the mock engine → the local `repository@sha256:…` it stands for. */
  readonly pinned = new Map<string, string>();

  constructor(
    readonly docker: Docker,
    readonly runId: string,
    readonly image: string,
  ) {}

  /** What a registered container runs: its pinned app image when the run pulled one, else the stand-in. */
  imageOf(registered: string | undefined): string {
    return (registered && this.pinned.get(registered)) || this.image;
  }

  get labels() {
    return { [RUN_LABEL]: this.runId };
  }

  async createNetwork(
    name: string,
    opts: { internal?: boolean; driver?: string; labels?: Record<string, string>; ipam?: { subnet?: string; gateway?: string; ipRange?: string }[] } = {},
  ) {
    await this.docker.createNetwork({
      Name: name,
      Driver: opts.driver ?? "bridge",
      Internal: opts.internal ?? false,
      CheckDuplicate: true,
      Labels: { ...opts.labels, ...this.labels },
      ...(opts.ipam?.length ? { IPAM: { Driver: "default", Config: opts.ipam.map((c) => ({ Subnet: c.subnet, Gateway: c.gateway, IPRange: c.ipRange })) } } : {}),
    });
  }

  /** Created on the bridge or the body's NetworkMode; with `networks`, the bridge swapped for them before start. */
  async createContainer(body: Docker.ContainerCreateOptions, networks: Attachment[] = [], uploads: Upload[] = []) {
    const container = await this.docker.createContainer({ ...body, Labels: { ...body.Labels, ...this.labels } });
    if (networks.length > 0) {
      await this.docker.getNetwork("bridge").disconnect({ Container: container.id }).catch((err: Error) => {
        // A NetworkMode override: ignored by this message, as the provider's create does (containsIgnorableErrorMessage).
        if (!/is not connected to the network bridge/i.test(err.message)) throw err;
      });
      for (const e of networks) await this.docker.getNetwork(e.network).connect({ Container: container.id, EndpointConfig: e.endpoint });
    }
    if (uploads.length > 0) await container.putArchive(await uploadsArchive(uploads), { path: "/" });
    await container.start();
    return container;
  }

  /** A container of the program, created and started as registered (healthcheck overridable, for fault injection). */
  async createRegistered(r: RegisteredResource, override: Partial<Docker.ContainerCreateOptions> = {}) {
    const { body, networks, uploads } = containerSpec(r, this.imageOf(r.inputs.image), this.runId);
    return this.createContainer({ ...body, ...override }, networks, uploads);
  }

  /**
   * Networks, then volumes, then the edge connect commands, then containers in
   * dependency order: each after every container it depends on has been
   * created and, where that one has `wait`, turned healthy within its
   * waitTimeout, as the provider's create does. On an engine older than API
   * 1.44 a startInterval is refused, as the provider's Docker client refuses it.
   */
  async apply(run: ProgramRun, engine?: EngineFacts) {
    for (const n of run.resources.filter((r) => r.type === TYPES.network)) {
      await this.createNetwork(n.inputs.name, { internal: n.inputs.internal, driver: n.inputs.driver, labels: labelMap(n.inputs.labels), ipam: n.inputs.ipamConfigs });
    }
    for (const v of run.resources.filter((r) => r.type === TYPES.volume)) {
      await this.docker.createVolume({ Name: v.inputs.name, Labels: { ...labelMap(v.inputs.labels), ...this.labels } });
    }
    // The edge's commands only: the database provisioning needs a real PostgreSQL in the postgres
    // container, which the stand-in image is not (test/contract runs its SQL against a real one).
    for (const c of run.resources.filter((r) => r.type === TYPES.command && r.name.endsWith("-traefik-attachment"))) runCommand(c, "create");
    const containers = run.resources.filter((r) => r.type === TYPES.container);
    if (engine) {
      const refused = containers.flatMap((c) => createRefusals(c.type, c.inputs, engine).map((why) => `${c.inputs.name}: ${why}`));
      if (refused.length > 0) throw new Error(`the provider would refuse these creates: ${refused.join("; ")}`);
    }
    const created = new Map<string, Promise<void>>();
    // At most four creates at once, as before; health waits do not count.
    const slots = { free: 4, queue: [] as (() => void)[] };
    const inSlot = async <T>(work: () => Promise<T>): Promise<T> => {
      if (slots.free === 0) await new Promise<void>((go) => slots.queue.push(go));
      else slots.free--;
      try {
        return await work();
      } finally {
        const next = slots.queue.shift();
        if (next) next();
        else slots.free++;
      }
    };
    const createInOrder = (c: RegisteredResource): Promise<void> => {
      let done = created.get(c.urn);
      if (!done) {
        const dependencies = containers.filter((d) => c.options.dependsOn.includes(d.urn));
        done = Promise.all(dependencies.map(createInOrder)).then(async () => {
          const container = await inSlot(() => this.createRegistered(c));
          if (c.inputs.wait) await this.waitHealthy(c.inputs.waitTimeout * 1000, container.id);
        });
        created.set(c.urn, done);
      }
      return done;
    };
    await Promise.all(containers.map(createInOrder));
  }

  /**
   * What a second apply would change: every container, network and volume of
   * `run` read back from the daemon through the provider's rules, against the
   * inputs as this applier sent them (its stand-in image and run label).
   */
  async readBackDiffs(run: ProgramRun): Promise<string[]> {
    const found: string[] = [];
    for (const r of run.resources.filter((res) => res.type in READ_BACK_RULES)) {
      const inspect =
        r.type === TYPES.container
          ? await this.docker.getContainer(r.inputs.name).inspect()
          : r.type === TYPES.network
            ? await this.docker.getNetwork(r.inputs.name).inspect()
            : await this.docker.getVolume(r.inputs.name).inspect();
      const sent = {
        ...r.inputs,
        ...(r.type === TYPES.container ? { image: this.imageOf(r.inputs.image) } : {}),
        ...(r.inputs.labels && r.type !== TYPES.container ? { labels: [...r.inputs.labels, { label: RUN_LABEL, value: this.runId }] } : {}),
      };
      for (const d of readBackDiffs(r.type, sent, { inspect })) found.push(`${r.inputs.name}: ${describeReadBackDiff(d)}`);
    }
    return found;
  }

  /** Waits until every container of this run (or the one `id`) that has a healthcheck is healthy; throws naming the laggards. */
  async waitHealthy(timeoutMs = 90_000, id?: string) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const list = await this.docker.listContainers({ all: true, filters: { label: [`${RUN_LABEL}=${this.runId}`], ...(id ? { id: [id] } : {}) } });
      const waiting = list.filter((c) => /\((health: starting|unhealthy)\)/.test(c.Status) || c.State !== "running");
      if (waiting.length === 0) return;
      if (Date.now() > deadline) throw new Error(`not healthy after ${timeoutMs} ms: ${waiting.map((c) => `${c.Names[0]} ${c.Status}`).join(", ")}`);
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Runs a command:local:Command's create or delete script with bash, with its environment, as Pulumi's command provider would. */
export function runCommand(r: RegisteredResource, which: "create" | "delete") {
  const script: string | undefined = r.inputs[which];
  if (!script) return;
  const res = spawnSync("bash", ["-c", script], { env: { ...process.env, ...r.inputs.environment }, encoding: "utf8" });
  if (res.status !== 0) throw new Error(`${r.name} ${which} failed (${res.status}): ${res.stderr}`);
}

/** Whether the test process that stamped a run id (`e2e-<pid>-…`) is still running: its objects are then in use. */
const runIsLive = (runId: string) => {
  const pid = Number(/^[a-z0-9]+-(\d+)-/.exec(runId)?.[1]);
  if (!pid || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/**
 * Removes what carries the test-run label: one run's (`runId`), or the
 * leftovers of runs whose process is gone (an aborted run). Nothing without
 * the label, and nothing of a run still going in another jest worker, is touched.
 */
export async function removeLabelled(docker: Docker, runId?: string): Promise<string[]> {
  const filters = { label: [runId ? `${RUN_LABEL}=${runId}` : RUN_LABEL] };
  const mine = (labels: Record<string, string> | undefined) => runId !== undefined || !runIsLive(labels?.[RUN_LABEL] ?? "");
  const containers = (await docker.listContainers({ all: true, filters })).filter((c) => mine(c.Labels));
  // One at a time: Docker 20.10 (Debian's docker.io, what CI installs) loses endpoint-count
  // decrements when containers on one network are removed concurrently (https://github.com/moby/moby/issues/43286), and
  // the network then refuses removal with "has active endpoints" until dockerd restarts.
  for (const c of containers) await docker.getContainer(c.Id).remove({ force: true, v: false }).catch(ignoreMissing);
  // The daemon releases a removed container's endpoints and mounts a moment after the remove returns.
  // Every removal is tried; what still fails is reported together.
  const networks = (await docker.listNetworks({ filters })).filter((n) => mine(n.Labels));
  const volumes = ((await docker.listVolumes({ filters })).Volumes ?? []).filter((v) => mine(v.Labels));
  const outcomes = await Promise.allSettled([
    ...networks.map((n) => whenReleased(() => docker.getNetwork(n.Id).remove())),
    ...volumes.map((v) => whenReleased(() => docker.getVolume(v.Name).remove())),
  ]);
  return outcomes.flatMap((o) => (o.status === "rejected" ? [String((o.reason as Error).message)] : []));
}

const ignoreMissing = (err: { statusCode?: number }) => {
  if (err.statusCode !== 404) throw err;
};

/** Retries a removal the daemon refuses with 403/409 (still in use) for up to ~10 s; a 404 means it is already gone. */
async function whenReleased(remove: () => Promise<unknown>) {
  for (let attempt = 0; ; attempt++) {
    try {
      return await remove();
    } catch (err) {
      const code = (err as { statusCode?: number }).statusCode;
      if (code === 404) return;
      if ((code !== 403 && code !== 409) || attempt >= 40) {
        const stuck = /active endpoints/.test(String((err as Error).message));
        throw stuck
          ? new Error(`${(err as Error).message}: the daemon counts endpoints on it that no container holds; only a dockerd restart clears that`)
          : err;
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/**
 * Names the e2e creates must be free (run after removing earlier runs'
 * leftovers): an unlabelled object is someone else's and is never touched; a
 * labelled one is a leftover the daemon would not let go of.
 */
export async function assertNamesFree(docker: Docker, containerNames: string[], networkNames: string[], volumeNames: string[]) {
  const clashes: string[] = [];
  const whose = (labels: Record<string, string> | undefined) => (RUN_LABEL in (labels ?? {}) ? "left by an earlier e2e run and not removable" : "not created by the e2e; refusing to touch it");
  for (const c of await docker.listContainers({ all: true })) {
    const name = c.Names[0].replace(/^\//, "");
    if (containerNames.includes(name)) clashes.push(`container ${name} (${whose(c.Labels)})`);
  }
  for (const n of await docker.listNetworks()) if (networkNames.includes(n.Name)) clashes.push(`network ${n.Name} (${whose(n.Labels)})`);
  for (const v of (await docker.listVolumes()).Volumes ?? []) if (volumeNames.includes(v.Name)) clashes.push(`volume ${v.Name} (${whose(v.Labels)})`);
  if (clashes.length > 0) {
    throw new Error(`the e2e needs these names free: ${clashes.join(", ")}; PO_E2E_SUFFIX=x runs it under other names`);
  }
}
