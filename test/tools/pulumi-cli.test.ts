import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdtempSync, readFileSync, writeFileSync, copyFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { FIXTURE_PROJECT } from "../harness/stack-config";
import { secretsToSet } from "../../config/validate";
import {
  type CliOptions,
  LOCAL_PLACEHOLDER,
  assertSafeLocalUp,
  describeBackendUrl,
  localSecretArgs,
  localStackConfig,
  main,
  missingLocalSecrets,
  parseCliArgs,
  pulumiArgs,
  stackHistoryArgs,
  resolveBackend,
  stackSelectArgs,
} from "../../tools/pulumi-cli";
import { findDrift } from "../../tools/ci/drift-report";
import { listChanges } from "../../tools/ci/preview-json";

const PROJECT = "/work/project";
const opts = (over: Partial<CliOptions>): CliOptions => ({ command: "preview", stack: "qual", dotenv: false, passthrough: [], ...over });
const configured = { PULUMI_BACKEND_URL: "s3://po-state?endpoint=minio:9000&s3ForcePathStyle=true", PULUMI_CONFIG_PASSPHRASE: "pw", CI: "true" };

describe("parseCliArgs", () => {
  it("reads the command and --stack in both spellings", () => {
    expect(parseCliArgs(["preview", "--stack", "qual"])).toMatchObject({ command: "preview", stack: "qual" });
    expect(parseCliArgs(["up", "--stack=prod"])).toMatchObject({ command: "up", stack: "prod" });
  });
  it("takes --settled-later for up alone", () => {
    expect(parseCliArgs(["up", "--stack", "qual", "--settled-later"])).toMatchObject({ command: "up", settledLater: true });
    expect(() => parseCliArgs(["preview", "--stack", "qual", "--settled-later"])).toThrow(/--settled-later applies to up only/);
  });
  it("requires a known command and a stack", () => {
    expect(() => parseCliArgs(["destroy", "--stack", "qual"])).toThrow(/usage/);
    expect(() => parseCliArgs(["up"])).toThrow(/--stack is required/);
    expect(() => parseCliArgs(["up", "--stack", "Prod!"])).toThrow(/not a stack name/);
  });
  it("takes any name Pulumi takes for a stack, not only names that can serve as the suffix", () => {
    expect(parseCliArgs(["preview", "--stack", "Qual-Two"]).stack).toBe("Qual-Two");
    expect(parseCliArgs(["preview", "--stack", "qual_2.eu"]).stack).toBe("qual_2.eu");
    expect(parseCliArgs(["preview", "-s", "organization/portugal-odyssey/qual"]).stack).toBe("organization/portugal-odyssey/qual");
  });
  it("refuses what Pulumi refuses as a stack name", () => {
    for (const bad of ["bad stack!", "a/b/c/d", "org//qual", "x".repeat(101)]) {
      expect(() => parseCliArgs(["preview", "--stack", bad])).toThrow(/not a stack name/);
    }
  });
  it("refuses an option without its value instead of taking the next option as one", () => {
    expect(() => parseCliArgs(["outputs", "--stack", "--dotenv"])).toThrow(/--stack/);
    expect(() => parseCliArgs(["outputs", "--stack="])).toThrow(/--stack needs a value/);
    expect(() => parseCliArgs(["outputs", "--stack", "qual", "--out"])).toThrow(/--out/);
  });
  it("refuses a bare argument before --, where it would be silently dropped", () => {
    expect(() => parseCliArgs(["preview", "--stack", "qual", "--target", "urn:x"])).toThrow(/Unknown option '--target'/);
    expect(() => parseCliArgs(["preview", "--stack", "qual", "urn:x"])).toThrow(/unexpected argument urn:x/);
  });
  it("refuses --show-secrets, as an option and as a pulumi passthrough flag", () => {
    expect(() => parseCliArgs(["outputs", "--stack", "qual", "--show-secrets"])).toThrow(/Unknown option '--show-secrets'/);
    expect(() => parseCliArgs(["preview", "--stack", "qual", "--", "--show-secrets"])).toThrow(/refused/);
    expect(() => parseCliArgs(["up", "--stack", "qual", "--", "--show-secrets=true"])).toThrow(/refused/);
  });
  it("keeps options to the commands they belong to", () => {
    expect(() => parseCliArgs(["up", "--stack", "qual", "--dotenv"])).toThrow(/outputs only/);
    expect(() => parseCliArgs(["outputs", "--stack", "qual", "--json-out", "x"])).toThrow(/preview and drift only/);
    expect(() => parseCliArgs(["outputs", "--stack", "qual", "--", "--json"])).toThrow(/no extra pulumi flags/);
  });
  it("passes flags after -- through to pulumi", () => {
    expect(parseCliArgs(["preview", "--stack", "qual", "--", "--target", "urn:x"]).passthrough).toEqual(["--target", "urn:x"]);
    // Parsing stops at the first --: what follows is pulumi's, even if it looks like this tool's own options.
    expect(parseCliArgs(["up", "--stack", "qual", "--", "--dotenv", "--", "--target", "u"])).toMatchObject({ dotenv: false, passthrough: ["--dotenv", "--", "--target", "u"] });
  });
});

describe("resolveBackend", () => {
  it("uses PULUMI_BACKEND_URL and says which backend without its query string", () => {
    const res = resolveBackend(configured, PROJECT);
    expect(res.mode).toBe("configured");
    expect(res.env.PULUMI_BACKEND_URL).toBe(configured.PULUMI_BACKEND_URL);
    expect(res.notice).toBe("pulumi-cli: backend s3://po-state (from PULUMI_BACKEND_URL), passphrase from PULUMI_CONFIG_PASSPHRASE.");
  });
  it("never prints the passphrase", () => {
    expect(resolveBackend({ ...configured, PULUMI_CONFIG_PASSPHRASE: "hunter2-very-secret" }, PROJECT).notice).not.toContain("hunter2");
  });
  it("turns on transpile-only and skips the update check unless told otherwise", () => {
    expect(resolveBackend(configured, PROJECT).env).toMatchObject({ PULUMI_NODEJS_TRANSPILE_ONLY: "true", PULUMI_SKIP_UPDATE_CHECK: "true" });
    expect(resolveBackend({ ...configured, PULUMI_NODEJS_TRANSPILE_ONLY: "false" }, PROJECT).env.PULUMI_NODEJS_TRANSPILE_ONLY).toBe("false");
  });
  it("fails when a backend is configured without a passphrase", () => {
    expect(() => resolveBackend({ PULUMI_BACKEND_URL: "s3://x" }, PROJECT)).toThrow(/PULUMI_CONFIG_PASSPHRASE/);
  });
  it("accepts PULUMI_CONFIG_PASSPHRASE_FILE as the passphrase", () => {
    expect(resolveBackend({ PULUMI_BACKEND_URL: "s3://x", PULUMI_CONFIG_PASSPHRASE_FILE: "/run/pw" }, PROJECT).notice).toMatch(/PULUMI_CONFIG_PASSPHRASE_FILE/);
  });
  it("without a backend URL uses a file backend and passphrase file in .pulumi-local and says LOCAL on its first line", () => {
    const res = resolveBackend({ HOME: "/root" }, PROJECT);
    expect(res.mode).toBe("local");
    expect(res.env.PULUMI_BACKEND_URL).toBe("file:///work/project/.pulumi-local/state");
    expect(res.env.PULUMI_CONFIG_PASSPHRASE_FILE).toBe("/work/project/.pulumi-local/passphrase");
    expect(res.notice.split("\n")).toHaveLength(1);
    expect(res.notice).toMatch(/^pulumi-cli: LOCAL backend \(PULUMI_BACKEND_URL is unset\): state in \.pulumi-local\/state\/ .*local passphrase in \.pulumi-local\/passphrase/);
  });
  it("treats an empty PULUMI_BACKEND_URL as unset", () => {
    expect(resolveBackend({ PULUMI_BACKEND_URL: "  " }, PROJECT).mode).toBe("local");
  });
  it("keeps a passphrase the developer exported in local mode", () => {
    const res = resolveBackend({ PULUMI_CONFIG_PASSPHRASE: "mine" }, PROJECT);
    expect(res.env.PULUMI_CONFIG_PASSPHRASE).toBe("mine");
    expect(res.env.PULUMI_CONFIG_PASSPHRASE_FILE).toBeUndefined();
  });
  it("refuses the local backend in CI, where it would recreate everything on the shared host", () => {
    expect(() => resolveBackend({ CI: "true" }, PROJECT)).toThrow(/not set in CI/);
    expect(resolveBackend({ CI: "true", PO_ALLOW_LOCAL_BACKEND: "1" }, PROJECT).mode).toBe("local");
  });
});

describe("a local-backend up against a remote daemon", () => {
  const local = resolveBackend({}, PROJECT);
  it("is refused, since a remote daemon may be the shared host, where it would start duplicates with placeholder secrets", () => {
    for (const host of ["ssh://deploy@docker.portugalodyssey.internal", "tcp://10.0.0.5:2376"]) {
      expect(() => assertSafeLocalUp("up", local, { DOCKER_HOST: host })).toThrow(`refusing \`up\` on the LOCAL backend against DOCKER_HOST=${host}`);
    }
  });
  it("is allowed on this machine's engine, for previews, with the shared backend, or when PO_ALLOW_LOCAL_BACKEND says so", () => {
    const remote = { DOCKER_HOST: "ssh://deploy@docker.portugalodyssey.internal" };
    expect(() => assertSafeLocalUp("up", local, {})).not.toThrow();
    expect(() => assertSafeLocalUp("up", local, { DOCKER_HOST: "unix:///var/run/docker.sock" })).not.toThrow();
    expect(() => assertSafeLocalUp("preview", local, remote)).not.toThrow();
    expect(() => assertSafeLocalUp("up", resolveBackend(configured, PROJECT), remote)).not.toThrow();
    expect(() => assertSafeLocalUp("up", local, { ...remote, PO_ALLOW_LOCAL_BACKEND: "1" })).not.toThrow();
  });
});

describe("pulumiArgs", () => {
  const ci = resolveBackend(configured, PROJECT);
  const local = resolveBackend({}, PROJECT);
  it("previews with --diff, and --json only when the digest is kept", () => {
    expect(pulumiArgs(opts({ command: "preview" }), ci)).toEqual(["preview", "--stack", "qual", "--non-interactive", "--diff"]);
    expect(pulumiArgs(opts({ command: "preview", stack: "prod", jsonOut: "p.json" }), ci)).toEqual(["preview", "--stack", "prod", "--non-interactive", "--diff", "--json"]);
  });
  it("runs up with --yes on the given stack, and keeps the stack outputs out of the job log", () => {
    expect(pulumiArgs(opts({ command: "up", stack: "prod" }), ci)).toEqual(["up", "--yes", "--suppress-outputs", "--stack", "prod", "--non-interactive"]);
  });
  it("checks drift with a refresh preview of the host against the state, which does not run the program", () => {
    const args = pulumiArgs(opts({ command: "drift" }), ci);
    expect(args).toEqual(["refresh", "--stack", "qual", "--non-interactive", "--preview-only", "--expect-no-changes", "--json"]);
    expect(args).not.toContain("--run-program");
  });
  it("reads the stack history as JSON to find the deployed commit", () => {
    expect(stackHistoryArgs("prod")).toEqual(["stack", "history", "--stack", "prod", "--json", "--page-size", "50", "--non-interactive"]);
  });
  it("reads outputs as JSON and never with --show-secrets, in either mode", () => {
    for (const res of [ci, local]) {
      const args = pulumiArgs(opts({ command: "outputs", dotenv: true }), res);
      expect(args.slice(0, 4)).toEqual(["stack", "output", "--stack", "qual"]);
      expect(args).toContain("--json");
      expect(args).not.toContain("--show-secrets");
    }
  });
  it("points local previews and deploys at the generated local config file", () => {
    expect(pulumiArgs(opts({ command: "up" }), local)).toEqual(["up", "--yes", "--suppress-outputs", "--stack", "qual", "--config-file", "/work/project/.pulumi-local/workspace/Pulumi.qual.yaml"]);
  });
  it("appends passthrough flags", () => {
    expect(pulumiArgs(opts({ command: "preview", passthrough: ["--target", "u"] }), ci).slice(-2)).toEqual(["--target", "u"]);
  });
});

describe("local stacks", () => {
  it("selects the stack inside the local workspace, creating a missing one with the passphrase provider", () => {
    expect(stackSelectArgs("qual", resolveBackend({}, PROJECT))).toEqual([
      "stack", "select", "--create", "--stack", "qual", "--secrets-provider", "passphrase", "--non-interactive", "--cwd", "/work/project/.pulumi-local/workspace",
    ]);
  });
  it("never creates stacks in a configured backend", () => {
    expect(() => stackSelectArgs("prod", resolveBackend(configured, PROJECT))).toThrow(/only created automatically in a local backend/);
  });
  it("names a qualified stack's local config file after its bare stack name, as Pulumi does", () => {
    expect(localSecretArgs("organization/portugal-odyssey/qual", "smtpPassword", resolveBackend({}, PROJECT))).toContain(
      "/work/project/.pulumi-local/workspace/Pulumi.qual.yaml",
    );
  });
  it("builds the local config from the committed one without secure values or the CI salt, keeping the local salt", () => {
    const committed = "encryptionsalt: v1:CI-SALT\nconfig:\n  portugal-odyssey:domain: qual.portugalodyssey.pt\n  portugal-odyssey:dbPassword:\n    secure: v1:abc\n  portugal-odyssey:data:\n    protect: false\n    token:\n      secure: v1:def\n";
    const local = "secretsprovider: passphrase\nencryptionsalt: v1:LOCAL-SALT\n";
    const doc = parse(localStackConfig(committed, local));
    expect(doc).toEqual({ secretsprovider: "passphrase", encryptionsalt: "v1:LOCAL-SALT", config: { "portugal-odyssey:domain": "qual.portugalodyssey.pt", "portugal-odyssey:data": { protect: false } } });
  });
  it("keeps secrets set in the local file when it regenerates it, but never the committed ones", () => {
    const committed = "config:\n  portugal-odyssey:domain: qual.portugalodyssey.pt\n  portugal-odyssey:smtpPassword:\n    secure: v1:CI\n";
    const local = "encryptionsalt: v1:LOCAL-SALT\nconfig:\n  portugal-odyssey:paymentProviderKey:\n    secure: v1:LOCAL\n  portugal-odyssey:domain: stale.example\n";
    expect(parse(localStackConfig(committed, local)).config).toEqual({
      "portugal-odyssey:domain": "qual.portugalodyssey.pt",
      "portugal-odyssey:paymentProviderKey": { secure: "v1:LOCAL" },
    });
  });
  it("finds the required external secrets a local stack file lacks, and sets each to a placeholder in that file only", () => {
    const yaml = "config:\n  portugal-odyssey:paymentProviderKey:\n    secure: v1:LOCAL\n";
    expect(missingLocalSecrets(yaml, ["paymentProviderKey", "smtpPassword"])).toEqual(["smtpPassword"]);
    expect(localSecretArgs("qual", "smtpPassword", resolveBackend({}, PROJECT))).toEqual([
      "config", "set", "--secret", "smtpPassword", LOCAL_PLACEHOLDER, "--stack", "qual",
      "--config-file", "/work/project/.pulumi-local/workspace/Pulumi.qual.yaml", "--non-interactive",
    ]);
    expect(() => localSecretArgs("prod", "smtpPassword", resolveBackend(configured, PROJECT))).toThrow(/only set in a local backend/);
  });
  it("describes backend URLs without credentials", () => {
    expect(describeBackendUrl("postgres://user:secret@db:5432/state?sslmode=disable")).toBe("postgres://db:5432/state");
    expect(describeBackendUrl("file:///srv/state")).toBe("file:///srv/state");
  });
});

describe("main with a stand-in pulumi binary", () => {
  // A shell script that records its arguments and answers like pulumi would.
  const contractOutputs = {
    environment: "qual",
    containers: {},
    networks: {},
    volumes: {},
    urls: { "public-fo": "https://qual.portugalodyssey.pt" },
    edge: { mode: "isolated", network: "po-edge-qual", traefikContainer: "traefik", traefikNetwork: "traefik" },
    topology: {},
    db: "[secret]",
  };

  function sandbox(outputs: object = contractOutputs) {
    const dir = mkdtempSync(join(tmpdir(), "pulumi-cli-"));
    writeFileSync(join(dir, "outputs.json"), JSON.stringify(outputs));
    copyFileSync(join(FIXTURE_PROJECT, "Pulumi.yaml"), join(dir, "Pulumi.yaml"));
    copyFileSync(join(FIXTURE_PROJECT, "Pulumi.qual.yaml"), join(dir, "Pulumi.qual.yaml"));
    mkdirSync(join(dir, "bin"));
    const log = join(dir, "calls.log");
    const bin = join(dir, "bin", "pulumi");
    writeFileSync(
      bin,
      `#!/bin/sh\necho "$*" >> "${log}"\ncase "$1 $2" in\n  "stack select") printf 'secretsprovider: passphrase\\nencryptionsalt: v1:LOCAL\\n' > "\${10}/Pulumi.$5.yaml" ;;\n  "stack output") cat "${join(dir, "outputs.json")}" ;;\nesac\n`,
    );
    chmodSync(bin, 0o755);
    return { dir, log, bin };
  }

  it("stops a local-backend up against a remote DOCKER_HOST before running pulumi at all", async () => {
    const { dir, log, bin } = sandbox();
    const err = jest.spyOn(console, "error").mockImplementation(() => undefined);
    const attempt = main(["up", "--stack", "prod"], { PULUMI_BIN: bin, PATH: process.env.PATH, DOCKER_HOST: "ssh://deploy@docker.portugalodyssey.internal" }, dir);
    await expect(attempt).rejects.toThrow(/refusing `up` on the LOCAL backend/);
    err.mockRestore();
    expect(existsSync(log)).toBe(false);
  });

  it("selects (creating) the local stack, then writes outputs as dotenv, printing the LOCAL notice first", async () => {
    const { dir, log, bin } = sandbox();
    const errors: string[] = [];
    const err = jest.spyOn(console, "error").mockImplementation((l: string) => void errors.push(l));
    const code = await main(["outputs", "--stack", "qual", "--dotenv", "--out", join(dir, "qual.env")], { PULUMI_BIN: bin, PATH: process.env.PATH }, dir);
    err.mockRestore();
    expect(code).toBe(0);
    expect(errors[0]).toMatch(/^pulumi-cli: LOCAL backend/);
    const calls = readFileSync(log, "utf8").trim().split("\n");
    expect(calls[0]).toMatch(/^stack select --create --stack qual --secrets-provider passphrase --non-interactive --cwd .*\.pulumi-local\/workspace$/);
    const placeholders = secretsToSet();
    expect(calls.slice(1, 1 + placeholders.length)).toEqual(
      placeholders.map((name) => expect.stringMatching(new RegExp(`^config set --secret ${name} ${LOCAL_PLACEHOLDER} --stack qual --config-file \\S+/\\.pulumi-local/workspace/Pulumi\\.qual\\.yaml`))),
    );
    expect(errors[2]).toContain(`setting placeholder values for the external secrets ${placeholders.join(", ")}`);
    expect(calls[1 + placeholders.length]).toBe("stack output --stack qual --json");
    expect(readFileSync(join(dir, "qual.env"), "utf8")).toBe("ENVIRONMENT_URL=https://qual.portugalodyssey.pt\nPO_ENVIRONMENT=qual\n");
    // The committed stack file is untouched; the local one got the local salt and the committed config.
    expect(readFileSync(join(dir, "Pulumi.qual.yaml"), "utf8")).not.toContain("encryptionsalt");
    const localConfig = parse(readFileSync(join(dir, ".pulumi-local", "workspace", "Pulumi.qual.yaml"), "utf8"));
    expect(localConfig.encryptionsalt).toBe("v1:LOCAL");
    expect(localConfig.config["portugal-odyssey:domain"]).toBe("qual.portugalodyssey.pt");
    expect(existsSync(join(dir, ".pulumi-local", "passphrase"))).toBe(true);
  });

  it("writes no dotenv report from outputs that break their contract", async () => {
    const { dir, bin } = sandbox({ environment: "qual", urls: { "public-fo": "https://qual.portugalodyssey.pt" } });
    const err = jest.spyOn(console, "error").mockImplementation(() => undefined);
    try {
      await expect(main(["outputs", "--stack", "qual", "--dotenv", "--out", join(dir, "qual.env")], { PULUMI_BIN: bin, PATH: process.env.PATH }, dir)).rejects.toThrow(
        /stack qual: the stack outputs do not match their contract[\s\S]*- topology:/,
      );
    } finally {
      err.mockRestore();
    }
    expect(existsSync(join(dir, "qual.env"))).toBe(false);
  });

  it("writes the outputs as JSON exactly as Pulumi printed them, naming the hidden secrets", async () => {
    const { dir, bin } = sandbox();
    const errors: string[] = [];
    const err = jest.spyOn(console, "error").mockImplementation((l: string) => void errors.push(l));
    const code = await main(["outputs", "--stack", "qual", "--out", join(dir, "qual.json")], { PULUMI_BIN: bin, PATH: process.env.PATH }, dir);
    err.mockRestore();
    expect(code).toBe(0);
    expect(JSON.parse(readFileSync(join(dir, "qual.json"), "utf8"))).toEqual(contractOutputs);
    expect(errors).toContain("pulumi-cli: secret outputs stay hidden as [secret]: $.db");
  });
});

describe("preview --json-out with a stand-in pulumi that exits 255", () => {
  const fixture = join(__dirname, "..", "fixtures", "preview-prod-replace-postgres.json");

  /** Runs `preview --json-out` in a configured backend against a pulumi that prints `stdout` and fails. */
  async function failedPreview(stdout: string, staleFile: boolean) {
    const dir = mkdtempSync(join(tmpdir(), "pulumi-cli-preview-"));
    const bin = join(dir, "pulumi");
    writeFileSync(join(dir, "stdout.txt"), stdout);
    writeFileSync(bin, `#!/bin/sh\ncat "${join(dir, "stdout.txt")}"\necho 'error: preview failed' >&2\nexit 255\n`);
    chmodSync(bin, 0o755);
    const out = join(dir, "preview-prod.json");
    if (staleFile) writeFileSync(out, "{}");
    const logged: string[] = [];
    const log = jest.spyOn(console, "log").mockImplementation((l: string) => void logged.push(l));
    const err = jest.spyOn(console, "error").mockImplementation(() => undefined);
    const env = { PULUMI_BIN: bin, PATH: process.env.PATH, PULUMI_BACKEND_URL: `file://${dir}/state`, PULUMI_CONFIG_PASSPHRASE: "pw", CI: "true" };
    try {
      const code = await main(["preview", "--stack", "prod", "--json-out", out], env, dir);
      return { code, out, logged };
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }

  it("keeps the digest Pulumi printed for a refused preview, prints its error, and passes the exit code on", async () => {
    const { code, out, logged } = await failedPreview(readFileSync(fixture, "utf8"), false);
    expect(code).toBe(255);
    expect(readFileSync(out, "utf8")).toBe(readFileSync(fixture, "utf8"));
    expect(logged).toContain("  replace prod-volume-postgres-data [docker:index/volume:Volume] (driverOpts)");
    expect(logged.join("\n")).toContain("currently marked for protection");
  });

  it("writes no file, and removes an old one, when Pulumi failed before printing a digest", async () => {
    const { code, out } = await failedPreview("", true);
    expect(code).toBe(255);
    expect(existsSync(out)).toBe(false);
  });

  it("asks Pulumi for neither sames nor replacement steps, the digest shape the fixtures have", () => {
    const args = pulumiArgs(opts({ command: "preview", jsonOut: "p.json" }), resolveBackend(configured, PROJECT));
    expect(args).not.toContain("--show-sames");
    expect(args).not.toContain("--show-replacement-steps");
  });
});

describe("drift with a stand-in pulumi and a real git history", () => {
  const fixtures = join(__dirname, "..", "fixtures");

  /**
   * A git repo whose HEAD is `ahead` commits past the one the stack history
   * records, and a pulumi that answers `refresh` with one fixture, `preview`
   * with another and exits as a refresh with --expect-no-changes would.
   */
  /** `refreshExit`: as Pulumi exits (7 when --expect-no-changes saw a change); `previewExit`: the preview of main's. */
  async function runDrift(refreshFixture: string, previewFixture: string, ahead: number, refreshExit?: number, previewExit = 0) {
    const dir = mkdtempSync(join(tmpdir(), "pulumi-cli-drift-"));
    const git = (...args: string[]) => execFileSync("git", ["-C", dir, "-c", "user.name=t", "-c", "user.email=t@t", ...args], { encoding: "utf8" }).trim();
    git("init", "-q");
    git("commit", "-q", "--allow-empty", "-m", "deployed");
    const deployed = git("rev-parse", "HEAD");
    for (let i = 0; i < ahead; i++) git("commit", "-q", "--allow-empty", "-m", `merged ${i}`);
    const history = [{ version: 2, kind: "update", startTime: "2026-11-30T10:00:00Z", message: "", environment: { "git.head": deployed }, config: {}, result: "succeeded" }];
    writeFileSync(join(dir, "history.json"), JSON.stringify(history));
    const refreshCode = refreshExit ?? (findDrift(JSON.parse(readFileSync(join(fixtures, refreshFixture), "utf8"))).length > 0 ? 7 : 0);
    const bin = join(dir, "pulumi");
    writeFileSync(
      bin,
      `#!/bin/sh\necho "$*" >> "${dir}/calls.log"\ncase "$1 $2" in\n` +
        `  "stack history") cat "${dir}/history.json" ;;\n` +
        `  refresh*) cat "${join(fixtures, refreshFixture)}"; exit ${refreshCode} ;;\n` +
        `  preview*) cat "${join(fixtures, previewFixture)}"; exit ${previewExit} ;;\nesac\n`,
    );
    chmodSync(bin, 0o755);
    const logged: string[] = [];
    const log = jest.spyOn(console, "log").mockImplementation((l: string) => void logged.push(l));
    const err = jest.spyOn(console, "error").mockImplementation(() => undefined);
    const env = { PULUMI_BIN: bin, PATH: process.env.PATH, PULUMI_BACKEND_URL: `file://${dir}/state`, PULUMI_CONFIG_PASSPHRASE: "pw", CI: "true" };
    try {
      const code = await main(["drift", "--stack", "prod", "--json-out", join(dir, "drift-prod.json")], env, dir);
      return { code, text: logged.join("\n"), calls: readFileSync(join(dir, "calls.log"), "utf8") };
    } finally {
      log.mockRestore();
      err.mockRestore();
    }
  }

  it("exits 7 (drift found) on a container edited by hand on the host, naming it and the property", async () => {
    const { code, text } = await runDrift("drift-prod-hand-edit.json", "preview-no-changes.json", 0);
    expect(code).toBe(7);
    expect(text).toContain("DRIFT FOUND");
    expect(text).toContain("prod-postgres-container [docker:index/container:Container]: changed outside Pulumi: restart");
    expect(text).toContain("prod-public-fo-container [docker:index/container:Container]: deleted outside Pulumi");
  });

  it("passes when main holds merged changes not yet deployed, and reports them as commits and resources behind main", async () => {
    const ahead = 3;
    const { code, text, calls } = await runDrift("drift-prod-clean.json", "preview-prod-app-changes.json", ahead);
    expect(code).toBe(0);
    expect(text).toContain("no drift");
    const pending = listChanges(JSON.parse(readFileSync(join(fixtures, "preview-prod-app-changes.json"), "utf8")));
    expect(text).toContain(`is ${ahead} commit(s)`);
    expect(text).toContain(`and ${pending.length} resource(s) behind main`);
    for (const change of pending) expect(text).toContain(`${change.action} ${change.name} [${change.type}]`);
    // The drift itself comes from the refresh preview alone; the program only runs for the information.
    expect(calls.split("\n")[0]).toMatch(/^refresh --stack prod .*--preview-only --expect-no-changes --json/);
  });

  it("a refresh that fails (exit 1) is a failed check, not drift and not a pass: the job exits 1 and says drift is unknown", async () => {
    const { code, text } = await runDrift("drift-prod-clean.json", "preview-no-changes.json", 0, 1);
    expect(code).toBe(1);
    expect(text).toContain("DRIFT CHECK FAILED (pulumi refresh exited 1)");
    expect(text).not.toMatch(/no drift|DRIFT FOUND/);
  });

  it("a failed preview of main (exit 1) is reported as failed even when the host has not drifted", async () => {
    const { code, text } = await runDrift("drift-prod-clean.json", "preview-no-changes.json", 0, 0, 1);
    expect(code).toBe(0);
    expect(text).toContain("no drift");
    expect(text).toContain("the preview of main FAILED for stack prod (pulumi preview exited 1)");
    expect(text).not.toMatch(/up to date/);
  });
});
