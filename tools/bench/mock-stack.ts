/**
 * Child process of the benchmark: loads the program the way Pulumi's Node.js
 * host does (through ts-node, type-checking unless TS_NODE_TRANSPILE_ONLY) and
 * runs one stack on the mock engine. Prints, as JSON, the milliseconds from
 * process start to the last resource registration.
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { runProgram } from "../../testing/mock-engine";

async function main() {
  const stack = process.argv[2] ?? "qual";
  let last = 0;
  const run = await runProgram({ stack, projectDir: join(__dirname, "..", ".."), onRegister: () => (last = performance.now()) });
  process.stdout.write(JSON.stringify({ stack, resources: run.resources.length, lastRegistrationMs: Math.round(last) }) + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
