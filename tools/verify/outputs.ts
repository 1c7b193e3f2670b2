/**
 * Reading a stack's outputs (model/outputs.ts is their contract) from Pulumi or
 * a file, for `verify`. Nothing here is secret, and `verify` never asks Pulumi
 * for secrets.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { stackOutputsSchema, type StackOutputs } from "../../model/outputs";
import { readStackOutputs, resolveBackend } from "../pulumi-cli";

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
 * A stack's outputs from Pulumi, read the way `npm run outputs` reads them
 * (PULUMI_BACKEND_URL, or the local file backend when it is unset).
 */
export async function pulumiStackOutputs(stack: string, cwd = PROJECT_DIR): Promise<unknown> {
  try {
    return await readStackOutputs(stack, resolveBackend(process.env, cwd), cwd);
  } catch (err) {
    throw new OutputsError(`cannot read stack ${stack}'s outputs: ${(err as Error).message}; pass --outputs <file> instead`);
  }
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
