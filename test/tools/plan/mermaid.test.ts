import { planFromStackFiles } from "../../../tools/plan";
import { allContainers, displayName } from "../../../tools/plan/describe";
import { generatedBlock } from "../../../tools/docs";
import { mermaidBlock, renderMermaid } from "../../../tools/plan/mermaid";
import type { EnvironmentPlan } from "../../../model/environment";
import { fixtureProject, type FixtureProject } from "./fixture-project";

let project: FixtureProject;
beforeAll(() => {
  project = fixtureProject({
    iso: {
      "portugal-odyssey:domain": "iso.example.test",
      "portugal-odyssey:edgeSubnet": "172.16.120.0/24",
      "portugal-odyssey:backup": { repository: "s3:https://s3.example.test/backups" },
    },
    shr: { "portugal-odyssey:domain": "shr.example.test", "portugal-odyssey:edge": "shared" },
  });
});
afterAll(() => project.remove());

/** The diagram read back: which node labels sit in which group, and the arrows between labels. */
function readDiagram(text: string) {
  const groups = new Map<string, string[]>();
  const labels = new Map<string, string>();
  let group: string | undefined;
  const arrows: { from: string; to: string; label?: string; dotted: boolean }[] = [];
  for (const line of text.split("\n").slice(1).map((l) => l.trim())) {
    const sub = /^subgraph \w+\["([^"]+)"\]$/.exec(line);
    const node = /^(\w+)(?:\[\(|\(\[|\[)"([^"]+)"/.exec(line);
    const arrow = /^(\w+) (-\.->|-->)(?:\|"([^"]+)"\|)? (\w+)$/.exec(line);
    if (sub) groups.set((group = sub[1]), []);
    else if (line === "end") group = undefined;
    else if (node) {
      labels.set(node[1], node[2]);
      groups.get(group!)!.push(node[2]);
    } else if (arrow) arrows.push({ from: arrow[1], to: arrow[4], label: arrow[3], dotted: arrow[2] === "-.->" });
    else throw new Error(`unexpected line: ${line}`);
  }
  return { groups, arrows: arrows.map((a) => ({ ...a, from: labels.get(a.from)!, to: labels.get(a.to)! })) };
}

const groupOf = (groups: Map<string, string[]>, network: string) => [...groups].find(([label]) => label.split(" ")[0] === network)?.[1];

describe.each(["iso", "shr"])("the %s stack's diagram", (stack) => {
  let plan: EnvironmentPlan;
  let diagram: ReturnType<typeof readDiagram>;
  beforeAll(() => {
    plan = planFromStackFiles(project.dir, stack).plan;
    diagram = readDiagram(renderMermaid(plan));
  });

  test("has one group per network of the model, and Traefik in the edge network's", () => {
    expect([...diagram.groups.keys()].map((l) => l.split(" ")[0])).toEqual(plan.networks.map((n) => n.name));
    expect(groupOf(diagram.groups, plan.edge.network)).toContain(`Traefik: ${plan.edge.traefikContainer}`);
    for (const n of plan.networks) {
      const traits = [...diagram.groups.keys()].find((l) => l.split(" ")[0] === n.name)!.slice(n.name.length);
      expect(traits.includes("internal")).toBe(n.internal);
      expect(traits.includes("external")).toBe(!n.managed);
    }
  });

  test("draws every container of the model once, inside the group of its first network, the backup container in its own", () => {
    const drawn = [...diagram.groups.values()].flat().filter((l) => !l.startsWith("Traefik"));
    expect(drawn.sort()).toEqual(allContainers(plan).map(displayName).sort());
    for (const c of plan.containers) expect(groupOf(diagram.groups, c.networks[0].name)).toContain(displayName(c));
    if (plan.backup) expect(groupOf(diagram.groups, plan.backup.networks.find((n) => n.key === "backup")!.name)).toEqual([displayName(plan.backup)]);
  });

  test("routes Traefik to every routed container, labelled with its Host", () => {
    const routes = diagram.arrows.filter((a) => a.from.startsWith("Traefik"));
    const routed = plan.containers.filter((c) => c.route);
    expect(routed.length).toBeGreaterThan(0);
    expect(routes.map((r) => [r.to, r.label]).sort()).toEqual(routed.map((c) => [displayName(c), c.route!.host]).sort());
  });

  test("draws one dotted arrow per dependency the model lists, to the container that answers to it", () => {
    const expected = plan.containers.flatMap((c) =>
      c.dependencies.map((d) => {
        const target = plan.containers.find((t) => t.networks.some((n) => n.aliases.includes(d.split(":")[0])))!;
        return `${displayName(c)} -> ${displayName(target)}`;
      }),
    );
    // The backup container reaches each store whose network it joins.
    const stores = plan.containers.filter((c) => c.kind === "store");
    const backupArrows = plan.backup
      ? stores.filter((s) => plan.backup!.networks.some((n) => n.key === s.networks[0].key)).map((s) => `${displayName(plan.backup!)} -> ${displayName(s)}`)
      : [];
    expect(Boolean(plan.backup)).toBe(stack === "iso");
    const drawn = diagram.arrows.filter((a) => a.dotted).map((a) => `${a.from} -> ${a.to}`);
    expect(drawn.sort()).toEqual([...expected, ...backupArrows].sort());
  });
});

test("refuses a dependency no container answers to rather than drawing a dangling arrow", () => {
  const plan = planFromStackFiles(project.dir, "iso").plan;
  const broken = { ...plan, containers: plan.containers.map((c, i) => (i === 0 ? { ...c, dependencies: ["nobody-iso:1"] } : c)) };
  expect(() => renderMermaid(broken)).toThrow(/depends on nobody-iso:1/);
});

test("a generated block is read back as what was written into it", () => {
  const plan = planFromStackFiles(project.dir, "iso").plan;
  const doc = `# x\n\n<!-- generated:topology-iso -->\n${mermaidBlock(plan)}\n<!-- /generated:topology-iso -->\n`;
  expect(generatedBlock(doc, "topology-iso")).toBe(mermaidBlock(plan));
  expect(generatedBlock(doc, "topology-other")).toBeUndefined();
});
