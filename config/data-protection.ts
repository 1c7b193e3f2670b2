/**
 * Whether a stack's data is protected, read from its committed stack file
 * (`data.protect`, with the schema's default), for the tools that run outside
 * the Pulumi program: the CI data-safety gate above all. Protection is declared
 * once, there; nothing else keeps a second list.
 */
import { PROJECT } from "../model/naming";
import { stackConfigSchema } from "./schema";
import { readStackFileConfig } from "./stack-files";

/** A stack file whose `data` block is not valid: the message names the key path, what was expected and how to fix it. */
export class StackFileError extends Error {}

export function dataIsProtected(projectDir: string, stack: string): boolean {
  const raw = readStackFileConfig(projectDir, stack)[`${PROJECT}:data`];
  const parsed = stackConfigSchema.shape.data.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${PROJECT}:data${i.path.length ? `.${i.path.map(String).join(".")}` : ""}: ${i.message}`);
    throw new StackFileError(`Pulumi.${stack}.yaml: ${problems.join("; ")}; fix the stack file (see config/schema.ts)`);
  }
  return parsed.data.protect;
}
