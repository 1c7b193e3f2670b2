/**
 * Image housekeeping on the real Docker daemon. Stand-in images are built and
 * pushed to a real registry (so they carry RepoDigests, as pulled images do)
 * under a registry path of this test's own; images under another path, and one
 * that also carries a foreign name, stand for the webapp's and Traefik's.
 */
import Docker from "dockerode";
import { pruneImages, type ReleaseHistory } from "../../tools/release/prune";
import { buildMarkerImage, pushImage, removeImages } from "../harness/images";
import { startRegistry, type RunningRegistry } from "../../testing/servers/registry";
import { RUN_LABEL } from "./applier";

jest.setTimeout(180_000);

const docker = new Docker();
const runId = `prune-${process.pid}-${Date.now().toString(36)}`;
const KEEP = 3;
// One build is used by a container, one is prod's, KEEP are qual's latest: one more is left to remove.
const BUILDS = KEEP + 3;

let registry: RunningRegistry;
let ours: string;
let foreign: string;
/** Build i (1 = oldest) of our service: its pinned reference and image ID. */
const builds: { pin: string; id: string }[] = [];
let foreignId: string;
let sharedId: string;
const containersMade: string[] = [];
const refsMade: string[] = [];

const exists = (ref: string) => docker.getImage(ref).inspect().then(() => true, () => false);

beforeAll(async () => {
  registry = await startRegistry();
  ours = `${registry.host}/${runId}/platform/booking-service`;
  foreign = `${registry.host}/${runId}-webapp/x100f-webapp`;
  for (let i = 1; i <= BUILDS; i++) {
    const ref = `${ours}:build-${i}`;
    refsMade.push(ref);
    const id = await buildMarkerImage(docker, ref, `booking-service build ${i}`, { [RUN_LABEL]: runId });
    const digests = await pushImage(docker, ref, registry);
    builds.push({ pin: digests.find((d) => d.startsWith(`${ours}@`))!, id });
  }
  // The webapp's image, under its own path; and an image of ours that someone also tagged for themselves.
  refsMade.push(`${foreign}:1.0`, `${ours}:shared`, "po-prune-foreign-name:" + runId);
  foreignId = await buildMarkerImage(docker, `${foreign}:1.0`, "webapp", { [RUN_LABEL]: runId });
  await pushImage(docker, `${foreign}:1.0`, registry);
  sharedId = await buildMarkerImage(docker, `${ours}:shared`, "shared", { [RUN_LABEL]: runId });
  await docker.getImage(`${ours}:shared`).tag({ repo: "po-prune-foreign-name", tag: runId });
  // A stopped container still uses the oldest build.
  const c = await docker.createContainer({ name: `po-prune-user-${runId}`, Image: builds[0].id, Cmd: ["/marker"], Labels: { [RUN_LABEL]: runId } });
  containersMade.push(c.id);
});

afterAll(async () => {
  for (const id of containersMade) await docker.getContainer(id).remove({ force: true }).catch(() => undefined);
  await removeImages(docker, [...refsMade, ...builds.map((b) => b.id), foreignId, sharedId].filter(Boolean));
  await registry?.stop();
});

test("keeps the last N releases per stack and what a container uses, removes the older ones, and never touches foreign images", async () => {
  // qual released every build in turn (newest first); prod got build 2 by promotion, long ago.
  const qual: ReleaseHistory = builds.map((b) => ({ "booking-service": b.pin })).reverse();
  const prod: ReleaseHistory = [{ "booking-service": builds[1].pin }];
  const standinsBefore = (await docker.listImages()).filter((i) => !(i.RepoTags ?? []).some((t) => t.includes(runId))).map((i) => i.Id);

  const dry = await pruneImages(docker, { repositories: [ours], stacks: { qual: { history: qual, keep: KEEP }, prod: { history: prod, keep: KEEP } }, dryRun: true });
  // A dry run removes nothing.
  for (const b of builds) expect(await exists(b.id)).toBe(true);

  const result = await pruneImages(docker, { repositories: [ours], stacks: { qual: { history: qual, keep: KEEP }, prod: { history: prod, keep: KEEP } } });
  expect(result.failed).toEqual([]);
  // Kept: the last KEEP qual releases, prod's release (build 2), build 1 (a container uses it).
  const expectedKept = new Set([builds[0].id, builds[1].id, ...builds.slice(-KEEP).map((b) => b.id)]);
  const expectedRemoved = builds.filter((b) => !expectedKept.has(b.id)).map((b) => b.id);
  expect(expectedRemoved.length).toBeGreaterThan(0);
  expect(result.removed.map((r) => r.id).sort()).toEqual(expectedRemoved.sort());
  expect(dry.removed.map((r) => r.id).sort()).toEqual(expectedRemoved.sort());
  for (const b of builds) expect({ build: b.pin, exists: await exists(b.id) }).toEqual({ build: b.pin, exists: expectedKept.has(b.id) });
  expect(result.kept.find((k) => k.id === builds[0].id)?.why).toBe(`used by po-prune-user-${runId}`);

  // Foreign: the webapp's path, an image of ours that also carries someone else's name, and every image that was there before.
  expect(await exists(foreignId)).toBe(true);
  expect(await exists(sharedId)).toBe(true);
  for (const id of standinsBefore) expect(await exists(id)).toBe(true);
});
