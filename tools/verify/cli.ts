/**
 * npm run verify -- --stack qual [--stack prod] [--outputs qual.json ...] [--drill-result drill-qual.json ...] [--node DOCKER_HOST ...] [--json] [--json-out FILE]
 *
 * Exit 0 when every check passes, 1 when any fails, 2 when verify could not
 * run (bad arguments, unreadable outputs, no daemon).
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { dockerClientFor, dockerHostProblem } from "../../host/docker";
import { readStackOutputs, resolveBackend } from "../pulumi-cli";
import { verify, type VerifyReport } from "./index";
import { DEFAULT_PROBE_OPTIONS, type ProbeOptions } from "./isolation";
import { OutputsError, parseOutputs, readOutputsFile, type StackOutputs } from "./outputs";
import { formatTable } from "./report";
import { NODE_HOSTS_ENV } from "./swarm";
import { PROJECT_DIR, runCli } from "../run-cli";

const USAGE = `usage: npm run verify -- --stack NAME [--stack NAME ...] [options]

  --stack NAME          a stack to check (repeatable); its outputs come from
                        \`pulumi stack output --json --stack NAME\` unless --outputs is given
  --outputs FILE        a JSON file of a stack's outputs (repeatable, paired in
                        order with --stack; without --stack the stack is named
                        after the file's \`environment\`)
  --json                print the report as JSON instead of the table
  --json-out FILE       also write the JSON report to FILE (CI keeps it as an artifact
                        and prints the table to the job log)
  --drill-result FILE   the restore drill's result file (npm run drill --out), paired
                        in order with --stack; the check fails when it is missing,
                        failed, another environment's, or older than the RPO.
                        Default for a single --stack: $PO_DRILL_RESULT
  --check-redirects     also GET http://<host>/ for each public host and expect a
                        301/308 to https://<host>/ (needs the hosts to resolve and
                        answer from here: Traefik's web entrypoint, docs/traefik.md)
  --node DOCKER_HOST    a swarm node's Docker daemon (repeatable), for the stacks
                        with runtime: swarm: their probes exec in a task on a node
                        verify has a client for (DOCKER_HOST's, the manager, and
                        these). Default: $${NODE_HOSTS_ENV}, comma separated
  --no-probe            skip the isolation probes
  --probe-mode MODE     exec (default): docker exec of the probe script in each
                        container (needs sh, and nc -z or bash + timeout, in it);
                        sidecar: a probe container sharing each container's
                        network namespace (for images without those tools)
  --probe-image IMAGE   image of the sidecar probe (default ${DEFAULT_PROBE_OPTIONS.image});
                        needs sh, and nc -z or bash + timeout
  --timeout SECONDS     connect timeout per attempt (default ${DEFAULT_PROBE_OPTIONS.timeoutSeconds})
  --concurrency N       containers probed at once (default ${DEFAULT_PROBE_OPTIONS.concurrency})
  --default-ports LIST  ports tried on containers without a port label (default ${DEFAULT_PROBE_OPTIONS.defaultPorts.join(",")})

The daemon is the one DOCKER_HOST names (unix://, tcp://, ssh://user@host); for a
runtime: swarm stack it must be a manager of the swarm. --probe-mode, --probe-image
and --default-ports apply to docker stacks; a swarm task is probed with bash.`;

const positiveInt = (flag: string, v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} expects a whole number of at least 1, got ${v}`);
  return n;
};

/** Throws what is wrong with the arguments (an empty message for --help); main prints it with the usage. */
export function parseCliArgs(argv: string[], env: NodeJS.ProcessEnv = process.env) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      stack: { type: "string", multiple: true },
      outputs: { type: "string", multiple: true },
      json: { type: "boolean" },
      "json-out": { type: "string" },
      "drill-result": { type: "string", multiple: true },
      "no-probe": { type: "boolean" },
      "check-redirects": { type: "boolean" },
      "probe-mode": { type: "string" },
      "probe-image": { type: "string" },
      timeout: { type: "string" },
      concurrency: { type: "string" },
      "default-ports": { type: "string" },
      node: { type: "string", multiple: true },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) throw new Error("");
  const stacks = values.stack ?? [];
  const outputFiles = values.outputs ?? [];
  if (stacks.length === 0 && outputFiles.length === 0) throw new Error("name at least one --stack (or --outputs file)");
  if (stacks.length > 0 && outputFiles.length > stacks.length) {
    throw new Error(`${outputFiles.length} --outputs files for ${stacks.length} --stack: pair each file with a stack, in order`);
  }
  const drillFiles = values["drill-result"] ?? (env.PO_DRILL_RESULT && stacks.length === 1 ? [env.PO_DRILL_RESULT] : []);
  if (drillFiles.length > 0 && (stacks.length === 0 || drillFiles.length > stacks.length)) {
    throw new Error(`${drillFiles.length} drill result files (--drill-result or PO_DRILL_RESULT) for ${stacks.length} --stack: pair each file with a stack, in order`);
  }
  const nodes = values.node ?? (env[NODE_HOSTS_ENV] ?? "").split(",").map((h) => h.trim()).filter((h) => h !== "");
  const from = values.node ? "--node" : NODE_HOSTS_ENV;
  for (const node of nodes) {
    const problem = dockerHostProblem(node);
    if (problem) throw new Error(`${from} expects a swarm node's DOCKER_HOST: ${problem}`);
  }
  const mode = values["probe-mode"];
  if (mode !== undefined && mode !== "sidecar" && mode !== "exec") throw new Error(`--probe-mode expects sidecar or exec, got ${mode}`);
  const probe: Partial<ProbeOptions> = {};
  if (mode) probe.mode = mode as ProbeOptions["mode"];
  if (values["probe-image"]) probe.image = values["probe-image"];
  if (values.timeout) probe.timeoutSeconds = positiveInt("--timeout", values.timeout);
  if (values.concurrency) probe.concurrency = positiveInt("--concurrency", values.concurrency);
  if (values["default-ports"]) probe.defaultPorts = values["default-ports"].split(",").map((p) => positiveInt("--default-ports", p.trim()));
  return {
    stacks,
    outputFiles,
    json: values.json ?? false,
    ...(values["json-out"] ? { jsonOut: values["json-out"] } : {}),
    probe: values["no-probe"] ? (false as const) : probe,
    checkRedirects: values["check-redirects"] ?? false,
    /** stack → the drill result file to check. */
    drillResults: Object.fromEntries(drillFiles.map((file, i) => [stacks[i], file])),
    /** The swarm nodes' DOCKER_HOSTs besides the manager's. */
    nodes,
  };
}

/**
 * A stack's outputs from Pulumi, read the way `npm run outputs` reads them
 * (PULUMI_BACKEND_URL, or the local file backend when it is unset).
 */
async function pulumiStackOutputs(stack: string): Promise<unknown> {
  try {
    return await readStackOutputs(stack, resolveBackend(process.env, PROJECT_DIR), PROJECT_DIR);
  } catch (err) {
    throw new OutputsError(`cannot read stack ${stack}'s outputs: ${(err as Error).message}; pass --outputs <file> instead`);
  }
}

export async function loadStacks(args: { stacks: string[]; outputFiles: string[] }): Promise<{ stack: string; outputs: StackOutputs }[]> {
  // Without --stack, each outputs file names its stack: its `environment`.
  const stacks = args.stacks.length > 0 ? args.stacks : args.outputFiles.map(() => undefined);
  return Promise.all(
    stacks.map(async (stack, i) => {
      const file = args.outputFiles[i];
      const outputs = parseOutputs(file ? await readOutputsFile(file) : await pulumiStackOutputs(stack!), file ?? `stack ${stack}`);
      return { stack: stack ?? outputs.environment, outputs };
    }),
  );
}

export async function main(argv: string[], out: NodeJS.WritableStream & { isTTY?: boolean } = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  let args: ReturnType<typeof parseCliArgs>;
  try {
    args = parseCliArgs(argv);
  } catch (e) {
    err.write(`${(e as Error).message ? `verify: ${(e as Error).message}\n\n` : ""}${USAGE}\n`);
    return 2;
  }
  let report: VerifyReport;
  try {
    const stacks = await loadStacks(args);
    // Only a swarm stack needs the nodes: a docker-only run never dials them.
    const nodes = stacks.some((s) => s.outputs.runtime === "swarm") ? args.nodes.map((host) => ({ host, docker: dockerClientFor(host) })) : [];
    report = await verify({ stacks, probe: args.probe, redirects: args.checkRedirects ? {} : false, drillResults: args.drillResults, nodes });
  } catch (e) {
    err.write(`verify: ${(e as Error).message}\n`);
    return 2;
  }
  const json = `${JSON.stringify(report, null, 2)}\n`;
  if (args.jsonOut) writeFileSync(args.jsonOut, json);
  out.write(args.json ? json : `${formatTable(report, { color: out === process.stdout && Boolean(process.stdout.isTTY) })}\n`);
  return report.ok ? 0 : 1;
}

if (require.main === module) runCli("verify", () => main(process.argv.slice(2)));
