import { longestContainerChain } from "../../../tools/bench";
import { runProgram, TYPES, type ProgramRun, type RegisteredResource } from "../../harness/program";

const container = (urn: string, dependsOn: string[]): RegisteredResource => ({
  type: TYPES.container,
  name: urn,
  urn,
  inputs: {},
  secretInputs: [],
  options: { protect: false, retainOnDelete: false, deleteBeforeReplace: false, replaceOnChanges: [], ignoreChanges: [], dependsOn },
});

test("counts levels of containers waiting on containers, ignoring other dependencies", () => {
  const run: ProgramRun = {
    resources: [container("a", ["network"]), container("b", ["a"]), container("c", ["b", "a"]), container("d", [])],
    invokes: [],
    outputs: {},
    secretOutputs: [],
  };
  expect(longestContainerChain(run)).toBe(3);
});

test("keeps the cold deploy to two levels: stores, then services", async () => {
  expect(longestContainerChain(await runProgram({ stack: "prod" }))).toBe(2);
});
