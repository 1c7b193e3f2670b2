/** The Docker host the e2e stands up: a daemon check, the stand-in image, and the neighbours the project finds there. */
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import type Docker from "dockerode";
import { LABELS } from "../../model/naming";
import { RUN_LABEL, type Applier } from "./applier";

export const TRAEFIK_NETWORK = "traefik";
export const TRAEFIK_CONTAINER = "traefik";
export const WEBAPP = "x100f-webapp";
/** The webapp's own router, so router uniqueness is checked against a container the project does not own. */
export const WEBAPP_ROUTER = { "traefik.enable": "true", "traefik.http.routers.x100f.rule": "Host(`x100f.example.net`)" };

/** Whether a daemon answers, asked once and synchronously when the suite is collected. */
export function dockerStatus(): { up: true } | { up: false; reason: string } {
  const probe = spawnSync(process.execPath, ["-e", "new (require('dockerode'))().ping().then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); })"], {
    encoding: "utf8",
    timeout: 15_000,
    cwd: join(__dirname, "..", ".."),
  });
  if (probe.status === 0) return { up: true };
  return { up: false, reason: `no Docker daemon answers at ${process.env.DOCKER_HOST ?? "/var/run/docker.sock"}: ${(probe.stderr || "timed out").trim()}` };
}

export function buildStandinImage(): string {
  return execFileSync("bash", [join(__dirname, "standin", "build.sh")], { encoding: "utf8" }).trim();
}

/** The existing edge: the traefik network, a stand-in Traefik and the webapp neighbour on it. */
export async function standUpNeighbours(applier: Applier) {
  await applier.createNetwork(TRAEFIK_NETWORK);
  const base = { Image: applier.image, HostConfig: { NetworkMode: TRAEFIK_NETWORK } };
  await applier.createContainer({ ...base, name: TRAEFIK_CONTAINER, Labels: {} });
  await applier.createContainer({ ...base, name: WEBAPP, Labels: WEBAPP_ROUTER });
}

/**
 * The e2e creates and removes containers, networks and volumes: it must never
 * run on a daemon that hosts a real deployment (DOCKER_HOST left pointing at
 * the shared host, say). Anything carrying this project's labels, or a Traefik
 * or webapp container, that no e2e run created says it does.
 */
export async function assertNotADeploymentHost(docker: Docker): Promise<void> {
  const real = (labels: Record<string, string> | undefined) => LABELS.project in (labels ?? {}) && !(RUN_LABEL in (labels ?? {}));
  const found = [
    ...(await docker.listContainers({ all: true }))
      .filter((c) => real(c.Labels) || (c.Names.some((n) => [`/${TRAEFIK_CONTAINER}`, `/${WEBAPP}`].includes(n)) && !(RUN_LABEL in (c.Labels ?? {}))))
      .map((c) => `container ${c.Names[0].replace(/^\//, "")}`),
    ...(await docker.listNetworks()).filter((n) => real(n.Labels)).map((n) => `network ${n.Name}`),
    ...((await docker.listVolumes()).Volumes ?? []).filter((v) => real(v.Labels)).map((v) => `volume ${v.Name}`),
  ];
  if (found.length > 0) {
    throw new Error(
      `refusing to run the e2e on ${process.env.DOCKER_HOST ?? "the local daemon"}: it hosts a real deployment (${found.slice(0, 5).join(", ")}${found.length > 5 ? ", …" : ""}); ` +
        "run it against a daemon of its own (`make test` starts one when DOCKER_HOST is unset)",
    );
  }
}
