/**
 * On a real Docker daemon: the uploads restore's helper container replaces a
 * volume's files with the restored ones (the archive upload into the mounted
 * volume, then REPLACE_DIR_SCRIPT), hands them to the volume's owner, keeps no
 * staging leftovers, runs with no network, and is removed. The stand-in image
 * plays Strapi's (busybox: sh, find, stat, chown, mv).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { SERVICES } from "../../catalog/services";
import { replaceVolumeContent } from "../../backup/docker-restore";
import { removeLabelled } from "./applier";
import { standinVolume, type StandinVolume } from "./volume";

jest.setTimeout(180_000);

const docker = new Docker();
const runId = `e2e-uploads-${process.pid}-${Date.now().toString(36)}`;
const MOUNT = SERVICES["strapi-cms"].volumes!.find((v) => v.volume === "strapi-uploads")!.path;
/** Strapi's user in the stand-in's place: the volume's owner, not root. */
const OWNER = "1000:1000";

let v: StandinVolume;
let restored: string;
const inVolume = (line: string) => v.inVolume(line);

beforeAll(async () => {
  v = await standinVolume(docker, runId, "strapi-uploads", MOUNT);
  restored = mkdtempSync(join(tmpdir(), "po-uploads-restored-"));
  mkdirSync(join(restored, "2024"));
  writeFileSync(join(restored, "hero.jpg"), "backed-up hero");
  writeFileSync(join(restored, "2024", "map.png"), "backed-up map");
});

afterAll(async () => {
  await removeLabelled(docker, runId);
  rmSync(restored, { recursive: true, force: true });
});

test("the volume ends up holding exactly the restored files, owned by the volume's owner, and the helper is gone", async () => {
  // The live volume: owned by Strapi's user, with a file changed and one uploaded since the backup.
  await inVolume(`cd ${MOUNT} && echo changed > hero.jpg && echo new > after.pdf && mkdir -p old && echo x > old/y && chown -R ${OWNER} . && chown ${OWNER} .`);
  const name = `${runId}-restore-helper`;
  await replaceVolumeContent(docker, { volume: v.volume, image: v.image, mountPath: MOUNT, restoredDir: restored, name });
  const listing = await inVolume(`cd ${MOUNT} && find . -mindepth 1 | sort && cat hero.jpg && echo && cat 2024/map.png && echo && stat -c '%u:%g' hero.jpg 2024 2024/map.png`);
  expect(listing.trim().split("\n")).toEqual(["./2024", "./2024/map.png", "./hero.jpg", "backed-up hero", "backed-up map", OWNER, OWNER, OWNER]);
  await expect(docker.getContainer(name).inspect()).rejects.toThrow();
});

test("a restore whose files cannot be uploaded fails, deletes nothing, and removes its helper", async () => {
  await inVolume(`cd ${MOUNT} && echo keep > keep.txt`);
  const before = await inVolume(`cd ${MOUNT} && find . -mindepth 1 | sort`);
  // A restored directory that does not exist: the archive upload fails before the helper deletes anything.
  await expect(replaceVolumeContent(docker, { volume: v.volume, image: v.image, mountPath: MOUNT, restoredDir: join(restored, "absent"), name: `${runId}-restore-helper-2` })).rejects.toThrow();
  const after = await inVolume(`cd ${MOUNT} && find . -mindepth 1 -not -name '.po-restore-*' -not -path './.po-restore-*/*' | sort`);
  expect(after).toBe(before);
  await expect(docker.getContainer(`${runId}-restore-helper-2`).inspect()).rejects.toThrow();
});
