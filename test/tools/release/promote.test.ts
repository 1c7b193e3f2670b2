/**
 * `npm run promote` on fixtures: qual's outputs as the program exports them,
 * verify reports, and a copy of the project's stack files and manifests.
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { SERVICE_NAMES } from "../../../catalog/services";
import { readManifest, writeManifest } from "../../../tools/release/manifest";
import { main } from "../../../tools/release/promote";
import { runProgram } from "../../harness/program";
import { testRelease } from "../../harness/release";
import { FIXTURE_PROJECT, REPOSITORY_ROOT } from "../../harness/stack-config";

let dir: string;
let qualOutputs: Record<string, any>;
const [CHANGED] = SERVICE_NAMES;
const NEXT = testRelease("qual", { [CHANGED]: "2" });

beforeAll(async () => {
  // qual deployed a release in which one service moved on from what prod runs.
  qualOutputs = (await runProgram({ stack: "qual", release: NEXT })).outputs;
});

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "po-promote-"));
  for (const file of ["Pulumi.yaml", "Pulumi.qual.yaml", "Pulumi.prod.yaml"]) copyFileSync(join(FIXTURE_PROJECT, file), join(dir, file));
  mkdirSync(join(dir, "releases"));
  // The committed manifests, for their header comment; their entries are replaced below.
  for (const stack of ["qual", "prod"]) copyFileSync(join(REPOSITORY_ROOT, "releases", `${stack}.yaml`), join(dir, "releases", `${stack}.yaml`));
  writeManifest(dir, "qual", NEXT.services);
  writeManifest(dir, "prod", testRelease("prod").services);
  writeJson("outputs-qual.json", qualOutputs);
  writeJson("verify-qual.json", passingReport());
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const writeJson = (name: string, value: unknown) => writeFileSync(join(dir, name), JSON.stringify(value));
const passingReport = () => ({
  ok: true,
  stacks: ["qual"],
  failed: [],
  images: { qual: Object.fromEntries(Object.entries(qualOutputs.images as Record<string, { image: string }>).map(([s, r]) => [s, r.image])) },
});

async function promote() {
  let out = "";
  let err = "";
  const sink = (append: (s: string) => void) => new Writable({ write: (c, _e, done) => (append(String(c)), done()) });
  const prodBefore = readFileSync(join(dir, "releases", "prod.yaml"), "utf8");
  const code = await main(
    ["--from", "qual", "--to", "prod", "--outputs", join(dir, "outputs-qual.json"), "--verify-report", join(dir, "verify-qual.json")],
    sink((s) => (out += s)),
    sink((s) => (err += s)),
    dir,
  );
  const prodUnchanged = readFileSync(join(dir, "releases", "prod.yaml"), "utf8") === prodBefore;
  return { code, out, err, prodUnchanged };
}

test("writes prod's manifest byte for byte from qual's outputs, and prints only the service that changes", async () => {
  const result = await promote();
  expect(result).toMatchObject({ code: 0, err: "", prodUnchanged: false });
  expect(readManifest(dir, "prod")).toEqual(qualOutputs.images);
  expect(result.out.split("\n").filter((l) => l.startsWith("  "))).toEqual([expect.stringMatching(new RegExp(`^  ${CHANGED}: sha256:\\w+… \\(commit \\w+\\) → sha256:\\w+…`))]);
  expect(readFileSync(join(dir, "releases", "prod.yaml"), "utf8")).toMatch(/^# Release manifest of the prod stack/);
});

test("a second promotion of the same deployment changes nothing", async () => {
  await promote();
  const again = await promote();
  expect(again).toMatchObject({ code: 0, prodUnchanged: true });
  expect(again.out).toContain("nothing changes");
});

test("refuses when qual's last verify did not pass, naming the failed checks", async () => {
  writeJson("verify-qual.json", { ...passingReport(), ok: false, failed: [`image.qual.${CHANGED}`] });
  const result = await promote();
  expect(result).toMatchObject({ code: 1, prodUnchanged: true });
  expect(result.err).toContain(`qual's last verify did not pass (failed: image.qual.${CHANGED})`);
});

test("refuses a verify report of another deployment (it checked other pins than qual's outputs hold)", async () => {
  const report = passingReport();
  report.images.qual[CHANGED] = testRelease("qual").services[CHANGED].image;
  writeJson("verify-qual.json", report);
  const result = await promote();
  expect(result).toMatchObject({ code: 1, prodUnchanged: true });
  expect(result.err).toContain(`the verify report is not of qual's current deployment: ${CHANGED} verified`);
});

test("refuses a verify report of another stack", async () => {
  writeJson("verify-qual.json", { ...passingReport(), stacks: ["prod"], images: {} });
  const result = await promote();
  expect(result).toMatchObject({ code: 1, prodUnchanged: true });
  expect(result.err).toContain("the verify report covers prod, not qual");
});

test("refuses when qual's outputs and qual's manifest disagree (main moved on since the deploy)", async () => {
  writeManifest(dir, "qual", testRelease("qual", { [CHANGED]: "3" }).services);
  const result = await promote();
  expect(result).toMatchObject({ code: 1, prodUnchanged: true });
  expect(result.err).toContain(`qual's outputs and releases/qual.yaml disagree: ${CHANGED} runs ${NEXT.services[CHANGED].image}`);
});

test("refuses when prod pulls from another registry path than qual ran", async () => {
  writeFileSync(join(dir, "Pulumi.prod.yaml"), `${readFileSync(join(dir, "Pulumi.prod.yaml"), "utf8")}  portugal-odyssey:registry: registry.example/other/path\n`);
  const result = await promote();
  expect(result).toMatchObject({ code: 1, prodUnchanged: true });
  expect(result.err).toContain("prod pulls from registry.example/other/path");
});

test("refuses outputs from before images were exported, and an unreadable verify report", async () => {
  writeJson("outputs-qual.json", { ...qualOutputs, images: {} });
  expect(await promote()).toMatchObject({ code: 1, prodUnchanged: true, err: expect.stringContaining("qual's outputs pin no image for") });
  writeJson("outputs-qual.json", qualOutputs);
  rmSync(join(dir, "verify-qual.json"));
  expect(await promote()).toMatchObject({ code: 1, prodUnchanged: true, err: expect.stringContaining("cannot read the verify report") });
});
