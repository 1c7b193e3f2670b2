/**
 * One entry point for the Pulumi commands this project runs, locally and in CI:
 *
 *   npm run preview -- --stack qual [--json-out preview-qual.json]
 *   npm run up      -- --stack qual [--settled-later]
 *   npm run outputs -- --stack qual [--dotenv] [--out FILE]
 *   npm run drift   -- --stack qual [--json-out drift-qual.json]
 *   npm run settled -- --stack qual
 *
 * `drift` compares the Docker host with the recorded state (a refresh preview,
 * which does not run the program) and exits 7 on any difference, as Pulumi does,
 * and with Pulumi's own non-zero code when the check itself failed; then, as
 * information only, it says how far the stack is behind the checked-out commit
 * (main, in CI): commits since the deployed one and what a deploy would change.
 *
 * `up` first replaces what an earlier `up` left half-created (or stops and says
 * what to run), and after a successful `up` runs `settled`: a refresh and
 * preview that must plan nothing (tools/up-safety.ts). Deploy jobs pass
 * `--settled-later` and run `settled` themselves once outputs are written and
 * verify ran: a failed check then still leaves the outputs of the deploy that happened.
 *
 * Backend: $PULUMI_BACKEND_URL when set (CI: the self-managed state store) with
 * the passphrase from $PULUMI_CONFIG_PASSPHRASE(_FILE). When it is unset the run
 * is LOCAL: state goes to a file backend in `.pulumi-local/`, secrets use a
 * passphrase generated there, stacks are created on first use, and the first
 * line of output says so. No `pulumi login` is ever needed.
 *
 * Everything that decides arguments and environment is a pure function below;
 * `main` only does the I/O.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { parseArgs, promisify } from "node:util";
import { parse as parseYaml, stringify as stringifyYaml } from "yaml";
import { type PreviewDigest, countChanges, errorDiagnostics, listChanges, parsePreview } from "./ci/preview-json";
import { behindMain, deployedCommit, driftVerdict, formatBehindMain, formatDrift } from "./ci/drift-report";
import { isSecureValue } from "../config/stack-files";
import { secretsToSet } from "../config/validate";
import { PROJECT } from "../model/naming";
import { parseJsonObject } from "./ci/json-document";
import { outputsToDotenv, secretPaths } from "./ci/outputs-to-dotenv";
import { parseOutputs } from "./verify/outputs";
import { type Installer, resolvePulumiCli, withPulumiCli } from "./pulumi-install";
import { PROJECT_DIR, runCli } from "./run-cli";
import { dataIsProtected } from "../config/data-protection";
import { exportedResources, formatStops, judgeSettled, planInitErrorRecovery } from "./up-safety";

const COMMANDS = ["preview", "up", "outputs", "drift", "settled"] as const;
export type Command = (typeof COMMANDS)[number];

export interface CliOptions {
  command: Command;
  stack: string;
  /** outputs: print dotenv instead of JSON. */
  dotenv: boolean;
  /** outputs: write here instead of stdout. */
  out?: string;
  /** preview/drift: keep the JSON digest in this file. */
  jsonOut?: string;
  /** up: leave the settled check to the caller, who runs `settled` after its own steps. */
  settledLater?: boolean;
  /** Extra pulumi flags given after a literal `--`. */
  passthrough: string[];
}

/**
 * Pulumi's own rule for a stack name (what `pulumi stack init` accepts): up to
 * 100 letters, digits, `-`, `_` or `.`, optionally qualified as `org/stack` or
 * `org/project/stack`. Not the suffix rule: a stack such as `Qual-Two` is fine
 * once its config sets a `suffix`, and config/validate.ts says so when it does not.
 */
const STACK_NAME = /^[A-Za-z0-9_.-]{1,100}(\/[A-Za-z0-9_.-]{1,100}){0,2}$/;

/** The stack part of a possibly qualified name: Pulumi names the stack's config file `Pulumi.<this>.yaml`. */
const bareStackName = (stack: string): string => stack.split("/").pop()!;

export function parseCliArgs(argv: string[]): CliOptions {
  const [command, ...rest] = argv;
  if (!COMMANDS.includes(command as Command)) throw new Error(`usage: pulumi-cli <${COMMANDS.join("|")}> --stack <pulumi stack name> [options] [-- <pulumi flags>]`);
  const { values, positionals, tokens } = parseArgs({
    args: rest,
    strict: true,
    // Only to collect what follows `--`; any other positional is refused below.
    allowPositionals: true,
    tokens: true,
    options: {
      stack: { type: "string", short: "s" },
      dotenv: { type: "boolean", default: false },
      out: { type: "string" },
      "json-out": { type: "string" },
      "settled-later": { type: "boolean", default: false },
    },
  });
  const terminator = tokens.find((t) => t.kind === "option-terminator");
  const passthrough = terminator ? rest.slice(terminator.index + 1) : [];
  const stray = positionals.slice(0, positionals.length - passthrough.length);
  if (stray.length) throw new Error(`unexpected argument ${stray[0]} (pass extra pulumi flags after a literal --)`);
  for (const flag of ["stack", "out", "json-out"] as const) {
    if (values[flag] === "") throw new Error(`--${flag} needs a value`);
  }
  const { stack = "", dotenv, out, "json-out": jsonOut, "settled-later": settledLater } = values;
  if (!stack) throw new Error("--stack is required (a Pulumi stack name such as qual)");
  if (!STACK_NAME.test(stack)) throw new Error(`not a stack name: ${stack} (Pulumi allows letters, digits, -, _ and ., optionally as org/project/stack)`);
  // Refused everywhere: it would print secret values.
  const showSecrets = passthrough.find((f) => f === "--show-secrets" || f.startsWith("--show-secrets="));
  if (showSecrets) throw new Error(`${showSecrets} is refused: this tool never prints secrets`);
  if (command === "outputs" && passthrough.length) throw new Error("outputs takes no extra pulumi flags");
  if (dotenv && command !== "outputs") throw new Error("--dotenv applies to outputs only");
  if (out && command !== "outputs") throw new Error("--out applies to outputs only (use --json-out for previews)");
  if (jsonOut && !["preview", "drift"].includes(command)) throw new Error("--json-out applies to preview and drift only");
  if (settledLater && command !== "up") throw new Error("--settled-later applies to up only");
  return { command: command as Command, stack, dotenv, out, jsonOut, settledLater, passthrough };
}

function localPaths(projectDir: string) {
  const root = join(projectDir, ".pulumi-local");
  // A scratch copy of Pulumi.yaml, so creating a stack writes its salt here and not into the committed Pulumi.<stack>.yaml.
  const workspaceDir = join(root, "workspace");
  return {
    stateDir: join(root, "state"),
    passphraseFile: join(root, "passphrase"),
    workspaceDir,
    configFile: (stack: string) => join(workspaceDir, `Pulumi.${bareStackName(stack)}.yaml`),
  };
}

export interface Resolution {
  mode: "configured" | "local";
  /** The environment the pulumi child process runs with. */
  env: NodeJS.ProcessEnv;
  /** The first line this tool prints. */
  notice: string;
  ci: boolean;
  local?: ReturnType<typeof localPaths>;
}

const truthy = (v: string | undefined) => v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";

/** A backend URL safe to print: scheme, host and path; never user info or query (they may carry keys). */
export function describeBackendUrl(url: string): string {
  if (URL.canParse(url)) {
    const u = new URL(url);
    return `${u.protocol}//${u.host}${u.pathname === "/" ? "" : u.pathname}`;
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url);
  return scheme ? `${scheme[1]}://…` : "(unparsable URL)";
}

export function resolveBackend(env: NodeJS.ProcessEnv, projectDir: string): Resolution {
  const ci = truthy(env.CI);
  const base: NodeJS.ProcessEnv = {
    ...env,
    PULUMI_SKIP_UPDATE_CHECK: env.PULUMI_SKIP_UPDATE_CHECK ?? "true",
    // `npm run typecheck` is the type check; pulumi only transpiles.
    PULUMI_NODEJS_TRANSPILE_ONLY: env.PULUMI_NODEJS_TRANSPILE_ONLY ?? "true",
  };
  const backendUrl = env.PULUMI_BACKEND_URL?.trim();
  const hasPassphrase = !!env.PULUMI_CONFIG_PASSPHRASE || !!env.PULUMI_CONFIG_PASSPHRASE_FILE;

  if (backendUrl) {
    if (!hasPassphrase) {
      throw new Error(
        "PULUMI_BACKEND_URL is set but neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is. " +
          "In GitLab the passphrase is a protected variable scoped to the stack's environment: it reaches that environment's jobs in pipelines of protected branches, and merge-request pipelines " +
          "only between protected branches with the project's protected-resources setting on (see docs/ci.md).",
      );
    }
    const source = env.PULUMI_CONFIG_PASSPHRASE ? "PULUMI_CONFIG_PASSPHRASE" : "PULUMI_CONFIG_PASSPHRASE_FILE";
    return {
      mode: "configured",
      ci,
      env: { ...base, PULUMI_BACKEND_URL: backendUrl },
      notice: `pulumi-cli: backend ${describeBackendUrl(backendUrl)} (from PULUMI_BACKEND_URL), passphrase from ${source}.`,
    };
  }

  if (ci && !truthy(env.PO_ALLOW_LOCAL_BACKEND)) {
    throw new Error(
      "PULUMI_BACKEND_URL is not set in CI. A throw-away local backend would make Pulumi create every container on the shared host again; " +
        "set PULUMI_BACKEND_URL (see docs/ci.md), or PO_ALLOW_LOCAL_BACKEND=1 if you really mean a local backend.",
    );
  }

  const local = localPaths(projectDir);
  const env2: NodeJS.ProcessEnv = { ...base, PULUMI_BACKEND_URL: `file://${local.stateDir}` };
  let passphraseNote = "passphrase from your environment";
  if (!hasPassphrase) {
    delete env2.PULUMI_CONFIG_PASSPHRASE;
    env2.PULUMI_CONFIG_PASSPHRASE_FILE = local.passphraseFile;
    passphraseNote = `local passphrase in ${relative(projectDir, local.passphraseFile)}`;
  }
  return {
    mode: "local",
    ci,
    local,
    env: env2,
    notice: `pulumi-cli: LOCAL backend (PULUMI_BACKEND_URL is unset): state in ${relative(projectDir, local.stateDir)}/ (file backend), ${passphraseNote}; this state is yours alone, not the shared one.`,
  };
}

/**
 * A local backend's state knows nothing of what runs on the shared host, and its
 * stack carries placeholder secrets: an `up` from it against a remote daemon
 * (the shared host is reached over ssh://) would start a second set of
 * containers beside production, some of them answering prod's routes. Only a
 * daemon on this machine is fair game, unless PO_ALLOW_LOCAL_BACKEND says so.
 */
export function assertSafeLocalUp(command: Command, res: Resolution, env: NodeJS.ProcessEnv): void {
  if (res.mode !== "local" || command !== "up" || truthy(env.PO_ALLOW_LOCAL_BACKEND)) return;
  const host = env.DOCKER_HOST?.trim();
  if (!host || host.startsWith("unix://") || host.startsWith("npipe://")) return;
  throw new Error(
    `refusing \`up\` on the LOCAL backend against DOCKER_HOST=${host}: that state is yours alone and its external secrets are placeholders, ` +
      "so on a shared host it would start duplicate containers beside the real ones. Deploy through the shared backend (PULUMI_BACKEND_URL, see docs/ci.md), " +
      "point DOCKER_HOST at your own engine, or set PO_ALLOW_LOCAL_BACKEND=1 if that remote engine is really yours.",
  );
}

/** The pulumi invocation for a command. Never contains --show-secrets. */
export function pulumiArgs(opts: CliOptions, res: Resolution): string[] {
  const common = ["--stack", opts.stack];
  if (res.ci) common.push("--non-interactive");
  const configFile = res.local ? ["--config-file", res.local.configFile(opts.stack)] : [];
  switch (opts.command) {
    case "preview":
      return ["preview", ...common, "--diff", ...(opts.jsonOut ? ["--json"] : []), ...configFile, ...opts.passthrough];
    case "up":
      // Job logs are read by more people than the developer-only outputs artifact.
      return ["up", "--yes", "--suppress-outputs", ...common, ...configFile, ...opts.passthrough];
    case "drift":
      // The host against the recorded state, without running the program (pkg/cmd/pulumi/operations/refresh.go:
      // --preview-only, --expect-no-changes, --json; --run-program stays off).
      return ["refresh", ...common, "--preview-only", "--expect-no-changes", "--json", ...configFile, ...opts.passthrough];
    case "outputs":
      return ["stack", "output", ...common, "--json"];
    case "settled":
      return settledArgs(common, configFile, opts.passthrough);
  }
}

/**
 * A refresh, then the program against what it read (pkg/cmd/pulumi/operations/preview.go:
 * --refresh, --expect-no-changes, --json): right after `up`, anything planned is a perpetual diff.
 */
const settledArgs = (common: string[], configFile: string[], passthrough: string[]) => [
  "preview", ...common, "--refresh", "--expect-no-changes", "--json", ...configFile, ...passthrough,
];

/** The stack's state as JSON, secrets left encrypted (no --show-secrets), to find resources with initErrors. */
export const stackExportArgs = (stack: string): string[] => ["stack", "export", "--stack", stack];

/** The stack's recent updates, newest first, to find the deployed commit. */
export const stackHistoryArgs = (stack: string): string[] => ["stack", "history", "--stack", stack, "--json", "--page-size", "50", "--non-interactive"];

/**
 * Selects the stack, creating it on first use (`pulumi stack select --create`,
 * with `--secrets-provider` applying to a new stack only:
 * https://www.pulumi.com/docs/iac/cli/commands/pulumi_stack_select/).
 */
export function stackSelectArgs(stack: string, res: Resolution): string[] {
  if (!res.local) throw new Error("stacks are only created automatically in a local backend");
  return ["stack", "select", "--create", "--stack", stack, "--secrets-provider", "passphrase", "--non-interactive", "--cwd", res.local.workspaceDir];
}

function stripSecure(value: unknown): unknown {
  if (isSecureValue(value)) return undefined;
  if (Array.isArray(value)) return value.map(stripSecure).filter((v) => v !== undefined);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, stripSecure(v)] as const).filter(([, v]) => v !== undefined));
  }
  return value;
}

/**
 * The local stack settings file: the committed config without its secure
 * values and salt (both belong to the CI passphrase), plus the local salt that
 * creating the stack wrote into the workspace file.
 */
export function localStackConfig(committedYaml: string | undefined, localYaml: string | undefined): string {
  const committed = (committedYaml ? parseYaml(committedYaml) : {}) ?? {};
  const local = (localYaml ? parseYaml(localYaml) : {}) ?? {};
  const out: Record<string, unknown> = {};
  for (const key of ["secretsprovider", "encryptionsalt"]) if (local[key] !== undefined) out[key] = local[key];
  const config = stripSecure(committed.config ?? {}) as Record<string, unknown>;
  // Secrets set locally (encrypted with the local salt) survive the regeneration.
  for (const [key, value] of Object.entries((local.config ?? {}) as Record<string, unknown>)) {
    if (!(key in config) && isSecureValue(value)) config[key] = value;
  }
  if (Object.keys(config).length) out.config = config;
  return `# Generated by tools/pulumi-cli.ts for the local backend; edit Pulumi.<stack>.yaml instead.\n${stringifyYaml(out)}`;
}

/** Stand-in value for an external secret in a local backend: the program needs one to preview. */
export const LOCAL_PLACEHOLDER = "local-placeholder-not-a-real-secret";

/** Required external secrets the local stack file does not set yet (keys are `portugal-odyssey:<name>`). */
export function missingLocalSecrets(localYaml: string, required: readonly string[]): string[] {
  const config = ((parseYaml(localYaml) ?? {}).config ?? {}) as Record<string, unknown>;
  return required.filter((name) => !(`${PROJECT}:${name}` in config) && !(name in config));
}

export function localSecretArgs(stack: string, name: string, res: Resolution): string[] {
  if (!res.local) throw new Error("placeholder secrets are only set in a local backend");
  return ["config", "set", "--secret", name, LOCAL_PLACEHOLDER, "--stack", stack, "--config-file", res.local.configFile(stack), "--non-interactive"];
}

// ---------------------------------------------------------------- I/O below

function runPulumi(args: string[], env: NodeJS.ProcessEnv, cwd: string, capture: boolean): Promise<{ code: number; stdout: string }> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(env.PULUMI_BIN || "pulumi", args, { cwd, env, stdio: ["inherit", capture ? "pipe" : "inherit", "inherit"] });
    const chunks: Buffer[] = [];
    child.stdout?.on("data", (c: Buffer) => chunks.push(c));
    child.on("error", (e) => reject(new Error(`cannot run pulumi (${e.message}); install the Pulumi CLI or set PULUMI_BIN`)));
    child.on("close", (code) => resolveRun({ code: code ?? 1, stdout: Buffer.concat(chunks).toString("utf8") }));
  });
}

/** Readies the stack in the local backend: selected (created on first use), its settings regenerated, external secrets set. */
async function prepareLocalStack(stack: string, res: Resolution, projectDir: string): Promise<number> {
  const l = res.local!;
  for (const dir of [l.stateDir, l.workspaceDir]) mkdirSync(dir, { recursive: true });
  if (res.env.PULUMI_CONFIG_PASSPHRASE_FILE === l.passphraseFile && !existsSync(l.passphraseFile)) {
    writeFileSync(l.passphraseFile, randomBytes(24).toString("base64url") + "\n", { mode: 0o600 });
  }
  copyFileSync(join(projectDir, "Pulumi.yaml"), join(l.workspaceDir, "Pulumi.yaml"));
  console.error(`pulumi-cli: selecting stack ${stack} in the local backend (created if it does not exist).`);
  const select = await runPulumi(stackSelectArgs(stack, res), res.env, projectDir, false);
  if (select.code !== 0) return select.code;
  const file = l.configFile(stack);
  const read = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : undefined);
  const config = localStackConfig(read(join(projectDir, `Pulumi.${bareStackName(stack)}.yaml`)), read(file));
  writeFileSync(file, config);
  const missing = missingLocalSecrets(config, secretsToSet());
  if (missing.length === 0) return 0;
  console.error(
    `pulumi-cli: local stack ${stack}: setting placeholder values for the external secrets ${missing.join(", ")}; ` +
      `set real ones with: pulumi config set --secret <name> --stack ${stack} --config-file ${relative(projectDir, file)}`,
  );
  for (const name of missing) {
    const set = await runPulumi(localSecretArgs(stack, name, res), res.env, l.workspaceDir, true);
    if (set.code !== 0) return set.code;
  }
  return 0;
}

/**
 * `pulumi stack output --json` for a stack, from the backend every command here
 * uses (never with --show-secrets), as Pulumi printed it: callers validate it
 * against model/outputs.ts when they rely on its shape. Shared by `npm run outputs` and `verify`.
 */
export async function readStackOutputs(stack: string, res: Resolution, projectDir: string): Promise<Record<string, unknown>> {
  const run = await runPulumi(pulumiArgs({ command: "outputs", stack, dotenv: false, passthrough: [] }, res), res.env, projectDir, true);
  if (run.code !== 0) throw new Error(`pulumi stack output --json --stack ${stack} exited ${run.code}`);
  return parseJsonObject(run.stdout, "pulumi stack output --json", "a stack outputs object");
}

/** How far the stack is behind the checked-out commit. Information only: every failure becomes a note. */
async function measureBehindMain(opts: CliOptions, res: Resolution, projectDir: string) {
  const notes: string[] = [];
  const history = await runPulumi(stackHistoryArgs(opts.stack), res.env, projectDir, true);
  let deployed: string | undefined;
  try {
    if (history.code === 0) deployed = deployedCommit(JSON.parse(history.stdout));
  } catch {
    // A history that is not JSON tells no deployed commit either: noted below.
  }
  let commits: number | undefined;
  if (!deployed) notes.push("no succeeded update with a recorded git commit in the stack history");
  else {
    try {
      commits = Number((await promisify(execFile)("git", ["rev-list", "--count", `${deployed}..HEAD`], { cwd: projectDir })).stdout);
    } catch (error) {
      notes.push(`cannot count commits since ${deployed.slice(0, 12)} (git rev-list exited ${(error as { code?: unknown }).code}; the clone may be shallow)`);
    }
  }
  const preview = await runPulumi(pulumiArgs({ ...opts, command: "preview", jsonOut: "-", passthrough: [] }, res), res.env, projectDir, true);
  let digest: PreviewDigest | undefined;
  try {
    digest = parsePreview(preview.stdout, "pulumi preview --json");
  } catch (error) {
    notes.push(`the preview of main did not run: ${(error as Error).message}`);
  }
  return behindMain(digest, commits, deployed, notes, preview.code);
}

/** `up`, with what an earlier up left half-created replaced first and the settled check after (unless the caller runs it later). */
async function runUp(opts: CliOptions, res: Resolution, projectDir: string, args: string[]): Promise<number> {
  const exported = await runPulumi(stackExportArgs(opts.stack), res.env, projectDir, true);
  if (exported.code !== 0) {
    console.error(`pulumi-cli: cannot read stack ${opts.stack}'s state to look for resources an earlier up left failed (pulumi stack export exited ${exported.code}).`);
    return exported.code;
  }
  const recovery = planInitErrorRecovery(exportedResources(parseJsonObject(exported.stdout, "pulumi stack export", "a deployment")), {
    stack: opts.stack,
    dataProtected: dataIsProtected(projectDir, bareStackName(opts.stack)),
    passthrough: opts.passthrough,
  });
  if (recovery.stops.length) {
    console.error(formatStops(opts.stack, recovery.stops));
    return 1;
  }
  for (const notice of recovery.notices) console.error(`pulumi-cli: ${notice}`);
  const up = await runPulumi([...args, ...recovery.replace.flatMap((urn) => ["--replace", urn])], res.env, projectDir, false);
  if (up.code !== 0 || opts.settledLater) return up.code;
  return runSettled(opts, res, projectDir);
}

/** The refresh and preview that must plan nothing; fails naming each resource and property it would change. */
async function runSettled(opts: CliOptions, res: Resolution, projectDir: string): Promise<number> {
  const run = await runPulumi(pulumiArgs({ ...opts, command: "settled", passthrough: [] }, res), res.env, projectDir, true);
  let digest: PreviewDigest;
  try {
    digest = parsePreview(run.stdout, "pulumi preview --refresh --json");
  } catch (error) {
    console.error(`pulumi-cli: the settled check could not run: ${(error as Error).message}`);
    return run.code || 1;
  }
  const verdict = judgeSettled(opts.stack, digest, run.code);
  for (const line of verdict.lines) console.log(line);
  return verdict.ok ? 0 : 1;
}

export async function main(argv: string[], env: NodeJS.ProcessEnv, projectDir: string, install?: Installer): Promise<number> {
  const opts = parseCliArgs(argv);
  // First: without a CLI nothing below can run, and the one line saying so should be all the output.
  const res = resolveBackend(withPulumiCli(env, await resolvePulumiCli(env, projectDir, install)), projectDir);
  console.error(res.notice);
  assertSafeLocalUp(opts.command, res, env);

  const prepared = res.local ? await prepareLocalStack(opts.stack, res, projectDir) : 0;
  if (prepared !== 0) return prepared;

  const args = pulumiArgs(opts, res);
  switch (opts.command) {
    case "up":
      return runUp(opts, res, projectDir, args);
    case "settled":
      return runSettled(opts, res, projectDir);
    case "preview": {
      if (!opts.jsonOut) return (await runPulumi(args, res.env, projectDir, false)).code;
      const run = await runPulumi(args, res.env, projectDir, true);
      let digest: PreviewDigest;
      try {
        digest = parsePreview(run.stdout, "the output of pulumi preview --json");
      } catch (error) {
        // Pulumi failed before it printed a digest. Leave no file behind (not
        // even an old one), so nothing downstream gates a preview that never was.
        rmSync(opts.jsonOut, { force: true });
        console.error(`pulumi-cli: ${(error as Error).message}`);
        return run.code || 1;
      }
      // Kept whatever the exit code: a preview Pulumi refused (a protected
      // volume, say) still prints its digest, and CI gates that to name the resource.
      writeFileSync(opts.jsonOut, run.stdout);
      const c = countChanges(digest);
      console.log(`preview ${opts.stack}: ${c.create} to create, ${c.update} to update, ${c.replace} to replace, ${c.delete} to delete, ${c.same} unchanged`);
      for (const ch of listChanges(digest)) console.log(`  ${ch.action.padEnd(7)} ${ch.name} [${ch.type}]${ch.reasons.length ? ` (${ch.reasons.join(", ")})` : ""}`);
      for (const e of errorDiagnostics(digest)) console.log(`  error: ${e}`);
      return run.code;
    }
    case "drift": {
      const file = opts.jsonOut ?? `drift-${bareStackName(opts.stack)}.json`;
      const run = await runPulumi(args, res.env, projectDir, true);
      writeFileSync(file, run.stdout);
      let digest: PreviewDigest | undefined;
      let why: string | undefined;
      try {
        digest = parsePreview(run.stdout, file);
      } catch (error) {
        why = (error as Error).message;
      }
      // Exit 7: drift found; 0: none; anything else: the check failed (drift-report.ts, PULUMI_EXIT).
      const verdict = driftVerdict(run.code, digest, why);
      console.log(formatDrift(opts.stack, verdict));
      for (const e of digest ? errorDiagnostics(digest) : []) console.log(`  error: ${e}`);
      console.log(formatBehindMain(opts.stack, await measureBehindMain(opts, res, projectDir)));
      return verdict.exitCode;
    }
    case "outputs": {
      const outputs = await readStackOutputs(opts.stack, res, projectDir);
      let text: string;
      if (opts.dotenv) {
        text = outputsToDotenv(parseOutputs(outputs, `stack ${opts.stack}`));
      } else {
        const hidden = secretPaths(outputs);
        if (hidden.length) console.error(`pulumi-cli: secret outputs stay hidden as [secret]: ${hidden.join(", ")}`);
        text = JSON.stringify(outputs, null, 2) + "\n";
      }
      if (opts.out) writeFileSync(opts.out, text);
      else process.stdout.write(text);
      return 0;
    }
  }
}

if (require.main === module) runCli("pulumi-cli", () => main(process.argv.slice(2), process.env, PROJECT_DIR));
