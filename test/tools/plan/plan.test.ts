import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { EXTERNAL_SECRETS } from "../../../catalog/types";
import { main, planFromStackFiles, PlanError, renderPlans } from "../../../tools/plan";
import { allContainers, displayName, MASK } from "../../../tools/plan/describe";
import { mockImageId, runProgram, ofType, TYPES } from "../../harness/program";
import { TEST_EXTERNAL_SECRETS } from "../../harness/stack-config";
import { testRelease } from "../../../testing/release";
import { fixtureProject, type FixtureProject } from "./fixture-project";

const CIPHERTEXT = "v1:ciphertext-that-must-never-print==";
let project: FixtureProject;

beforeAll(() => {
  project = fixtureProject({
    alpha: {
      "portugal-odyssey:domain": "alpha.example.test",
      "portugal-odyssey:edgeSubnet": "172.16.121.0/24",
      "portugal-odyssey:postgresPassword": { secure: CIPHERTEXT },
      "portugal-odyssey:services": { "booking-service": { memoryMb: 320 } },
      "portugal-odyssey:backup": { repository: "s3:https://s3.example.test/backups" },
    },
    beta: { "portugal-odyssey:domain": "beta.example.test", "portugal-odyssey:edge": "shared" },
  });
});
afterAll(() => project.remove());

const planOf = (stack: string) => planFromStackFiles(project.dir, stack).plan;
const yamlOf = (stack: string) => renderPlans([planFromStackFiles(project.dir, stack)], "yaml");

describe("the printed plan", () => {
  test("lists every container of the model with its image, networks and aliases, route, memory, CPU and volumes", () => {
    const plan = planOf("alpha");
    const printed = parse(yamlOf("alpha"));
    expect(plan.backup).toBeDefined();
    expect(Object.keys(printed.containers)).toEqual(allContainers(plan).map(displayName));
    for (const c of allContainers(plan)) {
      const entry = printed.containers[displayName(c)];
      expect(entry.image).toBe(c.image);
      expect(entry.networks).toEqual(Object.fromEntries(c.networks.map((n) => [n.name, n.aliases?.length ? { aliases: n.aliases } : {}])));
      expect(entry.resources).toEqual(c.resources);
      expect(entry.route?.host).toBe(plan.containers.find((x) => x === c)?.route?.host);
      expect(entry.volumes ?? []).toEqual(c.volumes.map((v) => `${v.volumeName}:${v.containerPath}${v.readOnly ? ":ro" : ""}`));
      expect(Object.keys(entry.env)).toEqual(c.env.map((e) => e.name));
    }
    // The backup container reads the stores' volumes and writes only its staging volume.
    const backupVolumes: string[] = printed.containers[displayName(plan.backup!)].volumes;
    expect(backupVolumes.filter((v) => !v.endsWith(":ro"))).toEqual(plan.backup!.volumes.filter((v) => !v.readOnly).map((v) => `${v.volumeName}:${v.containerPath}`));
    expect(printed.containers[displayName(plan.containers.find((c) => c.name === "booking-service")!)]).toMatchObject({
      image: testRelease(project.dir, "alpha").services["booking-service"].image,
      resources: { memoryMb: 320 },
    });
  });

  test("lists every network and volume of the model", () => {
    const plan = planOf("beta");
    const printed = parse(yamlOf("beta"));
    expect(Object.keys(printed.networks)).toEqual(plan.networks.map((n) => n.name));
    expect(Object.keys(printed.volumes)).toEqual(plan.volumes.map((v) => v.name));
    // shared edge: the edge network is the existing traefik network, which the stack never creates.
    expect(printed.networks.traefik).toEqual({ internal: false, external: true });
  });

  test("masks every secret env var, shows every other one, and never prints a stack file's ciphertext", () => {
    const plan = planOf("alpha");
    for (const format of ["yaml", "json"] as const) {
      const text = renderPlans([planFromStackFiles(project.dir, "alpha")], format);
      expect(text).not.toContain(CIPHERTEXT);
      const printed = format === "yaml" ? parse(text) : JSON.parse(text);
      const secrets = allContainers(plan).flatMap((c) => c.env.filter((e) => e.secret).map((e) => [displayName(c), e] as const));
      expect(secrets.map(([name]) => name)).toContain(displayName(plan.backup!));
      for (const [name, e] of secrets) expect(printed.containers[name].env[e.name]).toBe(MASK);
      for (const c of allContainers(plan)) {
        for (const e of c.env.filter((v) => !v.secret)) expect(printed.containers[displayName(c)].env[e.name]).toBe(e.value);
      }
    }
  });

  test("is the plan `up` renders: every container the program registers, with the same image, networks and memory", async () => {
    // As the engine would: the stack file's secure value decrypted and flagged secret.
    const run = await runProgram({ stack: "alpha", projectDir: project.dir, secrets: { ...TEST_EXTERNAL_SECRETS, postgresPassword: "decrypted" } });
    const plan = planOf("alpha");
    const registered = ofType(run, TYPES.container);
    expect(registered).toHaveLength(allContainers(plan).length);
    for (const c of allContainers(plan)) {
      // An app container runs its pulled image's ID; the pull (a RemoteImage) names the plan's pinned reference.
      const image = c.release ? mockImageId(c.image) : c.image;
      const r = registered.find((x) => (x.inputs.name as string).startsWith(c.containerName) && x.inputs.image === image);
      expect(r).toBeDefined();
      expect((r!.inputs.networksAdvanced as { name: string }[]).map((n) => n.name)).toEqual(c.networks.map((n) => n.name));
      expect(r!.inputs.memory).toBe(c.resources.memoryMb);
    }
  });
});

describe("config validation", () => {
  test("a bad stack stops with the message `up` gives, and nothing is printed", async () => {
    const bad = fixtureProject({
      gamma: { "portugal-odyssey:domain": "Not A Domain", "portugal-odyssey:logs": { maxFile: 0 } },
    });
    try {
      const upError = await runProgram({ stack: "gamma", projectDir: bad.dir }).then(
        () => undefined,
        (e: Error) => e.message,
      );
      expect(upError).toContain("portugal-odyssey:domain");
      expect(() => planFromStackFiles(bad.dir, "gamma")).toThrow(PlanError);
      expect(() => planFromStackFiles(bad.dir, "gamma")).toThrow(upError!);
    } finally {
      bad.remove();
    }
  });

  test("reads the other stack files as `up` does: a suffix another stack already uses is refused", () => {
    const clash = fixtureProject({
      one: { "portugal-odyssey:domain": "one.example.test", "portugal-odyssey:suffix": "same", "portugal-odyssey:edgeSubnet": "172.16.122.0/24" },
      two: { "portugal-odyssey:domain": "two.example.test", "portugal-odyssey:suffix": "same", "portugal-odyssey:edgeSubnet": "172.16.123.0/24" },
    });
    try {
      expect(() => planFromStackFiles(clash.dir, "one")).toThrow(/portugal-odyssey:suffix: "same" is also the suffix of stack "two"/);
    } finally {
      clash.remove();
    }
  });

  test("names the external secrets the stack file does not set, instead of failing on them", () => {
    const { notes } = planFromStackFiles(project.dir, "alpha");
    expect(notes).toHaveLength(1);
    for (const name of EXTERNAL_SECRETS) expect(notes[0]).toContain(name);
  });
});

describe("a fresh project's release manifests, which pin nothing yet", () => {
  test("still plan: every app image shows as unpinned, a pinned one as pinned, and a note names the command that pins them", () => {
    const fresh = fixtureProject({ alpha: { "portugal-odyssey:domain": "alpha.example.test" } });
    try {
      const pinned = testRelease(fresh.dir, "alpha") as { services: Record<string, { image: string }> };
      const [kept] = Object.keys(pinned.services);
      writeFileSync(join(fresh.dir, "releases", "alpha.yaml"), stringify({ services: { [kept]: pinned.services[kept] } }));
      const { plan, notes } = planFromStackFiles(fresh.dir, "alpha");
      const services = plan.containers.filter((c) => c.kind === "service");
      expect(services.find((c) => c.name === kept)!.image).toBe(pinned.services[kept].image);
      const unpinned = services.filter((c) => c.name !== kept);
      expect(unpinned.length).toBe(services.length - 1);
      for (const c of unpinned) expect(c.image).toMatch(new RegExp(`/${c.name} \\(unpinned\\)$`));
      expect(notes.join("\n")).toMatch(/releases\/alpha\.yaml pins no image for .*npm run release -- --stack alpha/);
      expect(notes.join("\n")).not.toContain(`${kept},`);
    } finally {
      fresh.remove();
    }
  });

  test("a pin that is there but wrong is still the error `up` reports", () => {
    const bad = fixtureProject({ alpha: { "portugal-odyssey:domain": "alpha.example.test" } });
    try {
      const pinned = testRelease(bad.dir, "alpha") as { services: Record<string, { image: string }> };
      const [first] = Object.keys(pinned.services);
      const tagOnly = { ...pinned.services[first], image: pinned.services[first].image.split("@")[0] + ":main" };
      writeFileSync(join(bad.dir, "releases", "alpha.yaml"), stringify({ services: { [first]: tagOnly } }));
      expect(() => planFromStackFiles(bad.dir, "alpha")).toThrow(new RegExp(first));
    } finally {
      bad.remove();
    }
  });
});

describe("the command line", () => {
  const capture = () => {
    const out: string[] = [];
    const err: string[] = [];
    jest.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
    jest.spyOn(console, "error").mockImplementation((s) => void err.push(String(s)));
    return { out, err };
  };
  afterEach(() => jest.restoreAllMocks());

  test("prints every stack asked for and exits 0", () => {
    const { out } = capture();
    expect(main(["--stack", "alpha", "--stack", "beta", "--format", "json"], project.dir)).toBe(0);
    expect(JSON.parse(out.join("")).map((p: { stack: string }) => p.stack)).toEqual(["alpha", "beta"]);
  });

  test.each([
    [["--stack", "alpha", "--format", "xml"], /--format must be one of yaml, json, mermaid/],
    [[], /usage: plan --stack/],
    [["--stak", "alpha"], /Unknown option '--stak'/],
    [["--stack", "nope"], /Stack "nope" has \d+ configuration problems?; nothing was created/],
  ])("refuses %j with one message and exit code 1, printing no plan", (argv, message) => {
    const { out, err } = capture();
    expect(main(argv, project.dir)).toBe(1);
    expect(out).toEqual([]);
    expect(err.join("\n")).toMatch(message);
  });
});
