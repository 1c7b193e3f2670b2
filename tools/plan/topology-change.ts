/**
 * Which stacks' topology a merge request changes: this commit's diagram of
 * each stack against the one the target branch documents in docs/plan.md
 * (generated there and kept fresh by a test, so it is what the target's code
 * draws). CI fetches that file from the target branch; no second checkout,
 * install or Pulumi run is needed.
 */
import { planFromStackFiles, PlanError } from "./index";
import { generatedBlock, mermaidBlock, topologyBlockName, type TopologyChange } from "./mermaid";

/** Stacks whose diagram differs from (or is missing in) `targetPlanDoc`; a stack that does not plan is left to its preview to report. */
export function changedTopologies(stacks: string[], projectDir: string, targetPlanDoc: string): TopologyChange[] {
  return stacks.flatMap((stack) => {
    let diagram: string;
    try {
      diagram = mermaidBlock(planFromStackFiles(projectDir, stack).plan);
    } catch (error) {
      if (error instanceof PlanError) return [];
      throw error;
    }
    return generatedBlock(targetPlanDoc, topologyBlockName(stack)) === diagram ? [] : [{ stack, diagram }];
  });
}
