/** Which releases image housekeeping keeps: the manifest's git history, newest first, N distinct pins per service and stack. */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeManifest } from "../../../tools/release/manifest";
import { gitReleaseHistory, pinsToKeep } from "../../../tools/release/prune";
import { testEntry } from "../../harness/release";

const SERVICE = "booking-service";
const pin = (build: string) => testEntry("qual", SERVICE, build).image;

test("keeps the last N distinct pins of each service per stack; a pin repeated (a rollback) counts once", () => {
  const history = ["5", "4", "4", "3", "2", "1"].map((b) => ({ [SERVICE]: pin(b) }));
  const keep = pinsToKeep({ qual: { history, keep: 3 }, prod: { history: [{ [SERVICE]: pin("1") }], keep: 3 } });
  expect([...keep.keys()].sort()).toEqual([pin("5"), pin("4"), pin("3"), pin("1")].sort());
  expect(keep.get(pin("5"))).toBe(`release 1 of the last 3 of ${SERVICE} on qual`);
  expect(keep.get(pin("1"))).toBe(`release 1 of the last 3 of ${SERVICE} on prod`);
});

test("reads the releases from the manifest's commits, newest first, the working copy before them", () => {
  const dir = mkdtempSync(join(tmpdir(), "po-history-"));
  try {
    const git = (...args: string[]) => execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], { cwd: dir });
    git("init", "-q");
    mkdirSync(join(dir, "releases"));
    for (const build of ["1", "2", "3"]) {
      writeManifest(dir, "qual", { [SERVICE]: testEntry("qual", SERVICE, build) });
      git("add", ".");
      git("commit", "-qm", `release ${build}`);
    }
    // A manifest deleted once and written again: the deleting commit holds no release.
    git("rm", "-q", "releases/qual.yaml");
    git("commit", "-qm", "drop the qual manifest");
    mkdirSync(join(dir, "releases"), { recursive: true });
    writeManifest(dir, "qual", { [SERVICE]: testEntry("qual", SERVICE, "4") });
    expect(gitReleaseHistory(dir, "qual").map((r) => r[SERVICE])).toEqual(["4", "3", "2", "1"].map(pin));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
