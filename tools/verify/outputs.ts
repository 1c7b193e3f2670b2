/**
 * Reading a stack's outputs (model/outputs.ts is their contract) from Pulumi or
 * a file, for `verify`. Nothing here is secret, and `verify` never asks Pulumi
 * for secrets.
 */
import { spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { stackOutputsSchema, type StackOutputs } from "../../model/outputs";
import { resolveBackend } from "../pulumi-cli";

const PROJECT_DIR = join(__dirname, "..", "..");

export { stackOutputsSchema, topologyEntrySchema, type StackOutputs, type TopologyEntry } from "../../model/outputs";

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
