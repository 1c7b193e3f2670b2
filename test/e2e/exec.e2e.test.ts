/** execIn against a real daemon: what restore and the drill rely on when they pipe a dump into a container. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Docker from "dockerode";
import { execIn } from "../../host/exec";
import { Applier } from "./applier";
import { assertNotADeploymentHost, buildStandinImage, dockerStatus } from "./host";

jest.setTimeout(120_000);

const status = dockerStatus();
const docker = new Docker();
const runId = `e2e-exec-${process.pid}-${Date.now().toString(36)}`;
const container = `${runId}-target`;
let applier: Applier;

beforeAll(async () => {
  if (!status.up) throw new Error(`${status.reason}; run \`make test\`, which starts one with .ci/docker.sh`);
  await assertNotADeploymentHost(docker);
  applier = new Applier(docker, runId, buildStandinImage());
  await applier.createContainer({ name: container, Image: applier.image, HostConfig: { NetworkMode: "none" } });
});

afterAll(async () => {
  await docker.getContainer(container).remove({ force: true }).catch(() => undefined);
});

test("a file given as stdin reaches the command whole, bytes beyond one frame included", async () => {
  const file = join(mkdtempSync(join(tmpdir(), "po-exec-")), "dump");
  const body = "x".repeat(200_000) + "\nend\n";
  writeFileSync(file, body);
  const { output } = await execIn(docker, container, ["wc", "-c"], { stdinFile: file });
  expect(Number(output.trim())).toBe(Buffer.byteLength(body));
});

test("stdout and stderr both come back, and env entries reach the command", async () => {
  const { output, exitCode } = await execIn(docker, container, ["sh", "-c", 'echo "out $GREETING"; echo err >&2'], { env: ["GREETING=hello"] });
  expect(exitCode).toBe(0);
  expect(output).toContain("out hello");
  expect(output).toContain("err");
});

test("a non-zero exit throws with the exit code and the output's last lines, unless failure is allowed", async () => {
  await expect(execIn(docker, container, ["sh", "-c", "echo broken pipe >&2; exit 3"])).rejects.toThrow(/exited with 3: broken pipe/);
  await expect(execIn(docker, container, ["sh", "-c", "exit 3"], { allowFailure: true })).resolves.toMatchObject({ exitCode: 3 });
});
