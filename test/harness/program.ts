/** The mock-engine runner (testing/mock-engine.ts), run against the fixture project unless a test names another. */
import { runProgram as runOnMockEngine, type ProgramRun, type RunOptions } from "../../testing/mock-engine";
import { FIXTURE_PROJECT } from "./stack-config";

export * from "../../testing/mock-engine";

export const runProgram = (options: Omit<RunOptions, "projectDir"> & { projectDir?: string }): Promise<ProgramRun> =>
  runOnMockEngine({ ...options, projectDir: options.projectDir ?? FIXTURE_PROJECT });
