/** `plan` of a `runtime: swarm` stack shows each service's replicas and placement; a docker stack's plan has no swarm section. */
import { parse } from "yaml";
import { planFromStackFiles, renderPlans } from "../../../tools/plan";
import { fixtureProject, type FixtureProject } from "./fixture-project";

let project: FixtureProject;
beforeAll(() => {
  project = fixtureProject({
    onswarm: { "portugal-odyssey:domain": "swarm.example.test", "portugal-odyssey:runtime": "swarm", "portugal-odyssey:swarm": { nodes: 3, replicas: 3 } },
    single: { "portugal-odyssey:domain": "single.example.test" },
  });
});
afterAll(() => project.remove());

test("a swarm stack's plan lists every service with its replicas, placement and rollout order", () => {
  const stack = planFromStackFiles(project.dir, "onswarm");
  expect(stack.swarm).toBeDefined();
  const printed = parse(renderPlans([stack], "yaml"));
  expect(printed.runtime).toBe("swarm");
  expect(Object.keys(printed.swarm.services)).toEqual(stack.swarm!.services.map((t) => t.serviceName));
  for (const t of stack.swarm!.services) {
    const entry = printed.swarm.services[t.serviceName];
    expect(entry.replicas).toBe(t.single ? 1 : 3);
    expect(entry.placement).toEqual(t.constraints.length ? t.constraints : "spread across nodes");
    expect(entry.update).toContain(t.update.order);
  }
  expect(printed.swarm.storesNode).toContain(`${stack.swarm!.storesNodeLabel}=true`);
});

test("a docker stack's plan has no swarm section", () => {
  const stack = planFromStackFiles(project.dir, "single");
  expect(stack.swarm).toBeUndefined();
  const printed = parse(renderPlans([stack], "yaml"));
  expect(printed.runtime).toBeUndefined();
  expect(printed.swarm).toBeUndefined();
});
