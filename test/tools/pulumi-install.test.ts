import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { SemVer } from "semver";
import { parsePipelineFile } from "../../tools/ci/pipeline-file";
import { PulumiCliUnavailable, pinnedPulumiVersion, resolvePulumiCli, withPulumiCli } from "../../tools/pulumi-install";

const ROOT = join(__dirname, "..", "..");
let dir: string;
let emptyBin: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "po-pulumi-install-"));
  emptyBin = join(dir, "empty-bin");
  mkdirSync(emptyBin);
  writeFileSync(join(dir, ".gitlab-ci.yml"), 'variables:\n  PULUMI_VERSION: "3.123.4"\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const executable = (path: string) => {
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, "#!/bin/sh\nexit 0\n");
  chmodSync(path, 0o755);
  return path;
};
const neverInstall = () => Promise.reject(new Error("must not install"));

test("the pinned version is the PULUMI_VERSION CI uses", () => {
  expect(pinnedPulumiVersion(dir)).toBe("3.123.4");
  const repoVersion = (parsePipelineFile(readFileSync(join(ROOT, ".gitlab-ci.yml"), "utf8")) as { variables: { PULUMI_VERSION: string } }).variables.PULUMI_VERSION;
  expect(pinnedPulumiVersion(ROOT)).toBe(repoVersion);
});

test("a CI file without a usable PULUMI_VERSION is refused by name", () => {
  writeFileSync(join(dir, ".gitlab-ci.yml"), "variables:\n  PULUMI_VERSION: latest\n");
  expect(() => pinnedPulumiVersion(dir)).toThrow(/PULUMI_VERSION/);
});

test("PULUMI_BIN wins over everything, then a pulumi on PATH; neither installs anything", async () => {
  const onPath = executable(join(dir, "path-bin", "pulumi"));
  expect(await resolvePulumiCli({ PULUMI_BIN: "/opt/pulumi", PATH: join(dir, "path-bin") }, dir, neverInstall)).toEqual({ command: "/opt/pulumi" });
  expect(await resolvePulumiCli({ PATH: [emptyBin, join(dir, "path-bin")].join(delimiter) }, dir, neverInstall)).toEqual({ command: onPath });
});

test("a CLI installed earlier into .pulumi-local/ is used as it is", async () => {
  const installed = executable(join(dir, ".pulumi-local", "pulumi", "3.123.4", "bin", "pulumi"));
  expect(await resolvePulumiCli({ PATH: emptyBin }, dir, neverInstall)).toEqual({ command: installed, binDir: join(installed, "..") });
});

test("without one, the pinned version is installed into .pulumi-local/pulumi/<version>/ and said so", async () => {
  const calls: { root: string; version: SemVer }[] = [];
  const lines: string[] = [];
  const cli = await resolvePulumiCli(
    { PATH: emptyBin },
    dir,
    async (opts) => (calls.push(opts), { command: join(opts.root, "bin", "pulumi") }),
    (l) => lines.push(l),
  );
  expect(calls).toHaveLength(1);
  expect(calls[0].root).toBe(join(dir, ".pulumi-local", "pulumi", "3.123.4"));
  expect(calls[0].version.version).toBe("3.123.4");
  expect(cli).toEqual({ command: join(calls[0].root, "bin", "pulumi"), binDir: join(calls[0].root, "bin") });
  expect(lines).toEqual([expect.stringContaining("installed v3.123.4 (the version CI uses) into .pulumi-local/pulumi/3.123.4/")]);
});

test("an install that fails is one line naming the reason and pointing to make plan", async () => {
  const failure = new Error("Failed to download https://get.pulumi.com/install.sh: fetch failed\n    at download (download.js:1:1)");
  const attempt = resolvePulumiCli({ PATH: emptyBin }, dir, () => Promise.reject(failure));
  await expect(attempt).rejects.toThrow(PulumiCliUnavailable);
  const message = await attempt.then(() => "resolved", (e: Error) => e.message);
  expect(message.split("\n")).toHaveLength(1);
  expect(message).toContain("fetch failed");
  expect(message).toContain("make plan");
  expect(message).not.toContain("download.js");
});

test("the child process gets the CLI, with its folder first on PATH when it brings plugins", () => {
  expect(withPulumiCli({ PATH: "/usr/bin" }, { command: "/x/bin/pulumi", binDir: "/x/bin" })).toEqual({ PULUMI_BIN: "/x/bin/pulumi", PATH: `/x/bin${delimiter}/usr/bin` });
  expect(withPulumiCli({ PATH: "/usr/bin" }, { command: "/usr/bin/pulumi" })).toEqual({ PULUMI_BIN: "/usr/bin/pulumi", PATH: "/usr/bin" });
});

test("`npm run preview` with no CLI and no network prints one line pointing to make plan and exits non-zero, without a stack trace", () => {
  // The real PulumiCommand.install, with its download refused as an offline machine refuses it.
  const offline = join(dir, "offline.cjs");
  writeFileSync(offline, "globalThis.fetch = () => Promise.reject(new TypeError('fetch failed'));\n");
  const run = spawnSync(join(ROOT, "node_modules", ".bin", "tsx"), ["--require", offline, join(ROOT, "tools", "pulumi-cli.ts"), "preview", "--stack", "qual"], {
    cwd: dir,
    env: { PATH: [emptyBin, join(process.execPath, "..")].join(delimiter), HOME: dir },
    encoding: "utf8",
  });
  expect(run.status).not.toBe(0);
  expect(run.stdout).toBe("");
  const lines = run.stderr.trim().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^pulumi-cli: cannot install the Pulumi CLI v\d+\.\d+\.\d+ into \.pulumi-local\/pulumi\/.*fetch failed.*make plan/);
});
