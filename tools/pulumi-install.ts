/**
 * Which Pulumi CLI the wrapper runs: $PULUMI_BIN when set, else `pulumi` on
 * PATH, else the version CI pins (PULUMI_VERSION in .gitlab-ci.yml, the one
 * source of truth), installed once into .pulumi-local/pulumi/<version>/ with
 * the Automation API's PulumiCommand.install. When none can be had (no network,
 * say), the error is one line that points to `make plan`, which needs no CLI.
 */
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import { delimiter, join, relative } from "node:path";
import { PulumiCommand } from "@pulumi/pulumi/automation";
import { SemVer } from "semver";
import { parsePipelineFile } from "./ci/pipeline-file";

/** Raised when no Pulumi CLI can be found or installed; its message is one line. */
export class PulumiCliUnavailable extends Error {}

/** PULUMI_VERSION from .gitlab-ci.yml's global variables. */
export function pinnedPulumiVersion(projectDir: string): string {
  const ci = parsePipelineFile(readFileSync(join(projectDir, ".gitlab-ci.yml"), "utf8")) as { variables?: Record<string, unknown> };
  const version = ci?.variables?.PULUMI_VERSION;
  if (typeof version !== "string" || !/^\d+\.\d+\.\d+$/.test(version)) {
    throw new PulumiCliUnavailable(`.gitlab-ci.yml sets no PULUMI_VERSION such as 3.200.0 (found ${JSON.stringify(version)})`);
  }
  return version;
}

/** The first executable called `name` on PATH, if any. */
export function onPath(name: string, path = process.env.PATH ?? ""): string | undefined {
  for (const dir of path.split(delimiter).filter(Boolean)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

export interface ResolvedPulumi {
  /** The executable to spawn. */
  command: string;
  /** A folder to put first on the child's PATH, so the CLI finds the plugins installed beside it. */
  binDir?: string;
}

export type Installer = (opts: { root: string; version: SemVer }) => Promise<{ command: string }>;

/** One line of an installer's error: the download's reason, without a stack or the script's output. */
const firstLine = (message: string) => message.split("\n").map((l) => l.trim()).find(Boolean) ?? "unknown error";

export async function resolvePulumiCli(
  env: NodeJS.ProcessEnv,
  projectDir: string,
  install: Installer = (opts) => PulumiCommand.install(opts),
  log: (line: string) => void = console.error,
): Promise<ResolvedPulumi> {
  if (env.PULUMI_BIN) return { command: env.PULUMI_BIN };
  const found = onPath("pulumi", env.PATH);
  if (found) return { command: found };

  const version = pinnedPulumiVersion(projectDir);
  const root = join(projectDir, ".pulumi-local", "pulumi", version);
  const binDir = join(root, "bin");
  if (existsSync(join(binDir, "pulumi"))) return { command: join(binDir, "pulumi"), binDir };

  const where = relative(projectDir, root);
  try {
    const cli = await install({ root, version: new SemVer(version) });
    log(`pulumi-cli: no Pulumi CLI on PATH; installed v${version} (the version CI uses) into ${where}/`);
    return { command: cli.command, binDir };
  } catch (error) {
    throw new PulumiCliUnavailable(
      `cannot install the Pulumi CLI v${version} into ${where}/ (${firstLine((error as Error).message)}); ` +
        "install it yourself (https://www.pulumi.com/docs/install/), or run `make plan` to see the environment without one",
    );
  }
}

/** The environment the wrapper runs pulumi with: this CLI, and the folder of its bundled plugins first on PATH. */
export function withPulumiCli(env: NodeJS.ProcessEnv, cli: ResolvedPulumi): NodeJS.ProcessEnv {
  const path = cli.binDir ? [cli.binDir, env.PATH].filter(Boolean).join(delimiter) : env.PATH;
  return { ...env, PULUMI_BIN: cli.command, ...(path !== undefined ? { PATH: path } : {}) };
}
