/**
 * `npm run bench`: the project's figures, measured in one run.
 *   - blast radius of a new image digest, a memory and a domain change (resources whose inputs differ);
 *   - the longest container-to-container dependsOn chain (the cold-deploy critical path);
 *   - each stack's memory reservation against the host budget;
 *   - process start → last resource registered on the mock engine, with and without type-checking;
 *   - the nightly backup of an environment with filled stores in its production container: wall time, peak memory against its limit.
 *   - on the lab swarm: convergence of a fresh environment, rolling update per service, drain recovery.
 * Machines here are noisy: compare the ratios, not the absolute times.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { readStackFileConfig } from "../../config/stack-files";
import { changedResources } from "../../testing/diff";
import { runProgram, TYPES, type ProgramRun, type RunOptions } from "../../testing/mock-engine";
import { testRelease } from "../../testing/release";
import { PROJECT_DIR, runCli } from "../run-cli";
import { measureBackup } from "./backup";
import { healthDetectionRows, heaviestChain, rabbitmqCheckCost } from "./health";
import { swarmFigures } from "./swarm";

/** Levels in the longest chain of containers that wait on containers (a lone container is 1). */
export const longestContainerChain = (run: ProgramRun): number => heaviestChain(run, () => 1).weight;

async function blastRadius(stack: string) {
  const baseline = await runProgram({ stack, projectDir: PROJECT_DIR });
  const domain = readStackFileConfig(PROJECT_DIR, stack)["portugal-odyssey:domain"] as string;
  const changes: Record<string, Partial<RunOptions>> = {
    "a new digest for booking-service in releases/<stack>.yaml": { release: testRelease(PROJECT_DIR, stack, { "booking-service": "bench-1" }) },
    "services.search-service.memoryMb": { config: { services: { "search-service": { memoryMb: 320 } } } },
    domain: { config: { domain: `renamed.${domain}` } },
  };
  const rows = [];
  for (const [change, options] of Object.entries(changes)) {
    const changed = changedResources(baseline, await runProgram({ stack, projectDir: PROJECT_DIR, ...options }));
    rows.push({ stack, change, resourcesChanged: changed.length, of: baseline.resources.length, which: changed.join(" ") });
  }
  return { baseline, rows };
}

function timeMockRun(transpileOnly: boolean): number {
  const out = execFileSync(process.execPath, ["-r", "ts-node/register", join(__dirname, "mock-stack.ts"), "qual"], {
    cwd: PROJECT_DIR,
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: String(transpileOnly) },
    encoding: "utf8",
  });
  return JSON.parse(out.trim().split("\n").pop()!).lastRegistrationMs;
}

const sum = <T>(rows: T[], key: keyof T) => rows.reduce((total, row) => total + Number(row[key]), 0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main() {
  console.log("# Blast radius (resources whose inputs or options differ)\n");
  const budgets = [];
  for (const stack of ["qual", "prod"]) {
    const { baseline, rows } = await blastRadius(stack);
    console.table(rows);
    const container = baseline.resources.filter((r) => r.type === TYPES.container);
    budgets.push({
      stack,
      containers: container.length,
      longestDependsOnChain: longestContainerChain(baseline),
      memoryMb: sum(container.map((c) => c.inputs), "memory"),
      hostBudgetMb: (readStackFileConfig(PROJECT_DIR, stack)["portugal-odyssey:host"] as { memoryBudgetMb: number }).memoryBudgetMb,
    });
  }
  budgets.push({ stack: "all", containers: sum(budgets, "containers"), longestDependsOnChain: Math.max(...budgets.map((b) => b.longestDependsOnChain)), memoryMb: sum(budgets, "memoryMb"), hostBudgetMb: budgets[0].hostBudgetMb });
  console.log("\n# Critical path and memory\n");
  console.table(budgets);

  console.log("\n# Modelled health-detection wait (software ready -> Docker reports healthy), summed along the path\n");
  const detection = [];
  for (const stack of ["qual", "prod"]) detection.push(...healthDetectionRows(await runProgram({ stack, projectDir: PROJECT_DIR }), stack, "booking-service"));
  console.table(detection);

  console.log("\n# RabbitMQ healthcheck CPU per call, against a real rabbitmq-server\n");
  const cost = await rabbitmqCheckCost();
  if (typeof cost === "string") console.log(cost);
  else console.table(cost);

  console.log("\n# Mock engine: process start -> last resource registered (qual), 3 alternating runs each\n");
  const checked: number[] = [];
  const transpiled: number[] = [];
  for (let i = 0; i < 3; i++) {
    checked.push(timeMockRun(false));
    transpiled.push(timeMockRun(true));
  }
  console.table([
    { mode: "ts-node type-check", runsMs: checked.join(" "), medianMs: median(checked) },
    { mode: "transpile only (PULUMI_NODEJS_TRANSPILE_ONLY)", runsMs: transpiled.join(" "), medianMs: median(transpiled) },
  ]);
  console.log(`ratio type-check / transpile-only: ${(median(checked) / median(transpiled)).toFixed(2)}x`);

  console.log("\n# The nightly backup in its production container, filled stores (image build: 0 s when cached)\n");
  const backup = await measureBackup();
  if (typeof backup === "string") console.log(backup);
  else console.table([backup]);

  console.log("\n# Docker Swarm, on the lab swarm (.ci/swarm.sh up): convergence, rolling updates, drain recovery\n");
  const swarm = await swarmFigures();
  if (typeof swarm === "string") console.log(swarm);
  else console.table(swarm);
  return 0;
}

if (require.main === module) runCli("bench", main, 1);
