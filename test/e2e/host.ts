/** The Docker host the e2e stands up: a daemon check, the stand-in image, and the neighbours the project finds there. */
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import type { Applier } from "./applier";

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
