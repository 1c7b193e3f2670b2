/**
 * What a stack should contain, as its Pulumi outputs say: the contract between
 * the program (index.ts) and `verify`. Nothing here is secret, and `verify`
 * never asks Pulumi for secrets.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import { resolveBackend } from "../pulumi-cli";

const PROJECT_DIR = join(__dirname, "..", "..");

const name = z.string().min(1);
/** `alias:port`, e.g. `postgres-qual:5432`. */
const hostPort = z.string().regex(/^[A-Za-z0-9_.-]+:[0-9]{1,5}$/, { error: "expected alias:port such as postgres-qual:5432" });

export const topologyEntrySchema = z.object({
  role: z.enum(["store", "service"]),
  port: z.number().int().min(1).max(65535),
  /** The networks it must be on, exactly. */
  networks: z.array(name),
  /** What it must be able to reach. */
  dependencies: z.array(hostPort),
  router: z.string().optional(),
  host: z.string().optional(),
});

export const stackOutputsSchema = z.object({
  environment: name,
  containers: z.record(z.string(), name),
  networks: z.record(z.string(), name),
  volumes: z.record(z.string(), name),
  urls: z.record(z.string(), z.string()).default({}),
  edge: z.object({
    mode: z.enum(["isolated", "shared"]),
    network: name,
    traefikContainer: name,
    traefikNetwork: name,
  }),
  neighbours: z.array(name).default([]),
  topology: z.record(z.string(), topologyEntrySchema),
});

export type StackOutputs = z.output<typeof stackOutputsSchema>;
export type TopologyEntry = z.output<typeof topologyEntrySchema>;

export class OutputsError extends Error {}

/** Validates outputs read from `source` (a file or a stack), with every problem and its key path in the message. */
export function parseOutputs(raw: unknown, source: string): StackOutputs {
  const result = stackOutputsSchema.safeParse(raw);
  if (result.success) {
    const missing = Object.keys(result.data.containers).filter((k) => !(k in result.data.topology));
    if (missing.length > 0) throw new OutputsError(`${source}: topology has no entry for container(s) ${missing.join(", ")}`);
    return result.data;
  }
  const problems = result.error.issues.map((i) => `  - ${i.path.map(String).join(".") || "(top level)"}: ${i.message}`);
  throw new OutputsError(`${source}: the stack outputs do not match what verify expects:\n${problems.join("\n")}`);
}

/**
 * Reads `pulumi stack output --json` for a stack (never with --show-secrets:
 * nothing verify needs is secret), from the backend `npm run outputs` uses
 * (PULUMI_BACKEND_URL, or the local file backend when it is unset).
 */
export function pulumiStackOutputs(stack: string, cwd = PROJECT_DIR): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let env: NodeJS.ProcessEnv;
    try {
      env = resolveBackend(process.env, cwd).env;
    } catch (err) {
      return reject(new OutputsError(`cannot read stack ${stack}'s outputs: ${(err as Error).message}`));
    }
    const args = ["stack", "output", "--json", "--non-interactive", "--stack", stack];
    const child = spawn("pulumi", args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("error", (err) => reject(new OutputsError(`could not run pulumi to read stack ${stack}'s outputs: ${err.message}; pass --outputs <file> instead`)));
    child.on("close", (code) => {
      if (code !== 0) return reject(new OutputsError(`pulumi stack output --json --stack ${stack} exited ${code}: ${stderr.trim()}`));
      try {
        resolve(JSON.parse(stdout));
      } catch (err) {
        reject(new OutputsError(`pulumi stack output for ${stack} is not JSON: ${(err as Error).message}`));
      }
    });
  });
}

export async function readOutputsFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new OutputsError(`cannot read outputs file ${path}: ${(err as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OutputsError(`outputs file ${path} is not JSON: ${(err as Error).message}`);
  }
}
