/**
 * On a real Docker daemon: when the live Elasticsearch repository lacks the
 * snapshot, the restore's helpers put the backup's copy of the repository into
 * a directory of its own on the snapshots volume (the archive upload into the
 * mounted volume, then INSTALL_COPY_SCRIPT), owned by the node's user, leave
 * the live repository's directory as it was, and remove the copy again. The
 * stand-in image plays Elasticsearch's (busybox: sh, mv, rm).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { STORES } from "../../catalog/stores";
import { names } from "../../model/naming";
import { repositoryCopyOnVolume } from "../../backup/docker-restore";
import { removeLabelled } from "./applier";
import { standinVolume, type StandinVolume } from "./volume";

jest.setTimeout(180_000);

const docker = new Docker();
const runId = `e2e-es-copy-${process.pid}-${Date.now().toString(36)}`;
const PATH_REPO = String(STORES.elasticsearch.env["path.repo"]);
const ENV = "qual";
const SNAPSHOT = "qual-2024-05-01t02-00-00-000z";
const LOCATION = names.elasticsearchRestoreLocation(SNAPSHOT);

let v: StandinVolume;
let restored: string;
const inVolume = (line: string) => v.inVolume(line);

beforeAll(async () => {
  v = await standinVolume(docker, runId, "elasticsearch-snapshots", PATH_REPO);
  // What restic brings back of the repository's directory.
  restored = mkdtempSync(join(tmpdir(), "po-es-restored-"));
  mkdirSync(join(restored, "indices", "abc", "0"), { recursive: true });
  writeFileSync(join(restored, "index-3"), "backed-up index");
  writeFileSync(join(restored, "indices", "abc", "0", "snap-1.dat"), "backed-up shard");
  // The live volume as the node keeps it: path.repo and its repository owned by the node's user, a snapshot of its own in it.
  await inVolume(`cd ${PATH_REPO} && mkdir -p ${ENV} && echo live > ${ENV}/index-0 && chown -R ${STORES.elasticsearch.user} . && chmod 755 . ${ENV}`);
});

afterAll(async () => {
  await removeLabelled(docker, runId);
  rmSync(restored, { recursive: true, force: true });
});

/** Every entry under path.repo with its owner, size and modification time, and the live repository's content. */
const volumeState = () => inVolume(`cd ${PATH_REPO} && find . -mindepth 1 | sort | while read -r f; do stat -c '%n %u:%g %s %Y' "$f"; done; cat ${ENV}/index-0`);

const copyOf = (restoredDir: string, name: string) =>
  repositoryCopyOnVolume(docker, { volume: v.volume, image: v.image, restoredDir, repository: names.elasticsearchRestoreRepository(ENV), location: LOCATION, name: `${runId}-${name}` });

test("the copy lands in its own directory, whole and owned by the node's user, replacing a leftover only once it has arrived; removing it leaves the live repository as it was", async () => {
  const live = await volumeState();
  // An earlier attempt that was interrupted left its copy behind.
  await inVolume(`mkdir -p ${PATH_REPO}/${LOCATION} && echo stale > ${PATH_REPO}/${LOCATION}/stale`);
  const copy = copyOf(restored, "helper");
  await copy.put();
  const listing = await inVolume(`cd ${PATH_REPO}/${LOCATION} && find . -mindepth 1 | sort && cat index-3 && echo && stat -c '%u:%g' . index-3 indices/abc/0/snap-1.dat`);
  expect(listing.trim().split("\n")).toEqual([
    "./index-3",
    "./indices",
    "./indices/abc",
    "./indices/abc/0",
    "./indices/abc/0/snap-1.dat",
    "backed-up index",
    ...Array(3).fill(STORES.elasticsearch.user),
  ]);
  expect((await inVolume(`ls -A ${PATH_REPO}`)).trim().split("\n").sort()).toEqual([LOCATION, ENV].sort());
  await copy.remove();
  expect(await volumeState()).toBe(live);
  for (const step of ["copy", "remove"]) await expect(docker.getContainer(`${runId}-helper-${step}`).inspect()).rejects.toThrow();
});

test("a copy whose files cannot be uploaded fails without touching the live repository, and removing it leaves nothing behind", async () => {
  const live = await volumeState();
  // A restored directory that does not exist: the archive upload fails before the helper runs.
  const copy = copyOf(join(restored, "absent"), "helper-2");
  await expect(copy.put()).rejects.toThrow();
  await copy.remove();
  expect(await volumeState()).toBe(live);
});
