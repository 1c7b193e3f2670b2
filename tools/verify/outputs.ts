/**
 * Reading a stack's outputs (model/outputs.ts is their contract) from a file,
 * and validating them wherever they come from: for `verify`, and for
 * `npm run outputs -- --dotenv`. Nothing here is secret.
 */
import { readFile } from "node:fs/promises";
import { stackOutputsSchema, type StackOutputs } from "../../model/outputs";

export type { StackOutputs } from "../../model/outputs";

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
  throw new OutputsError(`${source}: the stack outputs do not match their contract (model/outputs.ts):\n${problems.join("\n")}`);
}

export async function readOutputsFile(path: string): Promise<unknown> {
  const text = await readFile(path, "utf8").catch((err: Error) => {
    throw new OutputsError(`cannot read outputs file ${path}: ${err.message}`);
  });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new OutputsError(`outputs file ${path} is not JSON: ${(err as Error).message}`);
  }
}
