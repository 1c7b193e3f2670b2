/**
 * npm run promote -- --from qual --to prod --verify-report verify-qual.json [--outputs outputs-qual.json]
 *
 * Writes the target stack's release manifest from what the source stack
 * actually runs: its stack outputs' `images` (what its last deploy applied),
 * not its manifest file. Refuses, writing nothing, when
 *   - the source's last verify did not pass, or its report is of another deployment
 *     (the report's checked pins differ from the outputs);
 *   - the source's outputs and its manifest disagree (main moved on, or the deploy
 *     did not finish: promote only what was deployed from main and verified);
 *   - the target pulls from another registry path than the source ran.
 *
 * The record of the last verify is the JSON report verify writes with --json-out,
 * which CI keeps as an artifact of the deploy-qual job (verify-qual.json): a stack
 * output cannot hold it, since verify runs after the deploy that writes outputs.
 *
 * Exit 0 when written (or nothing changed), 1 when refused, 2 on bad arguments.
 */
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { z } from "zod";
import { SERVICE_NAMES } from "../../catalog/services";
import { BACKUP_IMAGE } from "../../config/release";
import { parseImageReference } from "../../model/image-ref";
import { readStackOutputs, resolveBackend } from "../pulumi-cli";
import { OutputsError, parseOutputs, readOutputsFile, type StackOutputs } from "../verify/outputs";
import { ManifestError, imageRepository, readManifest, stackRegistry, writeChanges } from "./manifest";
import { PROJECT_DIR, runCli } from "../run-cli";

export class PromotionRefused extends Error {}

const USAGE = `usage: npm run promote -- --from STACK --to STACK --verify-report FILE [--outputs FILE]

  --from STACK          the stack that ran and verified the images (qual)
  --to STACK            the stack whose manifest is written (prod)
  --verify-report FILE  the source stack's last verify JSON report (CI artifact verify-qual.json)
  --outputs FILE        the source stack's outputs (CI artifact outputs-qual.json); without it,
                        \`pulumi stack output --json --stack FROM\` is read`;

/** The part of verify's JSON report promotion relies on. */
const verifyReportSchema = z.object({
  ok: z.boolean(),
  stacks: z.array(z.string()),
  failed: z.array(z.string()),
  images: z.record(z.string(), z.record(z.string(), z.string())).default({}),
});

/** Checks every refusal, then writes the target manifest; returns the printed summary. */
export function promote(inputs: { from: string; to: string; outputs: StackOutputs; verifyReport: unknown; projectDir: string }): string {
  const { from, to, outputs, verifyReport, projectDir } = inputs;
  if (from === to) throw new PromotionRefused(`--from and --to are both ${from}`);
  const { environment: env, images: deployed } = outputs;
  const missing = SERVICE_NAMES.filter((s) => !(s in deployed));
  if (missing.length > 0) throw new PromotionRefused(`${from}'s outputs pin no image for ${missing.join(", ")}; deploy ${from} from a complete manifest first`);

  const report = verifyReportSchema.safeParse(verifyReport);
  if (!report.success) throw new PromotionRefused(`the verify report is not one verify wrote (${report.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")})`);
  if (!report.data.stacks.includes(from) && !(env in report.data.images)) throw new PromotionRefused(`the verify report covers ${report.data.stacks.join(", ")}, not ${from}`);
  if (!report.data.ok) throw new PromotionRefused(`${from}'s last verify did not pass (failed: ${report.data.failed.join(", ")}); fix ${from} and verify it again`);
  const verified = report.data.images[env] ?? {};
  const unverified = SERVICE_NAMES.filter((s) => verified[s] !== deployed[s].image);
  if (unverified.length > 0) {
    throw new PromotionRefused(
      `the verify report is not of ${from}'s current deployment: ${unverified.map((s) => `${s} verified ${verified[s] ?? "(not checked)"}, deployed ${deployed[s].image}`).join("; ")}; verify ${from} again`,
    );
  }

  const manifest = readManifest(projectDir, from);
  const drifted = SERVICE_NAMES.filter((s) => manifest[s]?.image !== deployed[s].image);
  if (drifted.length > 0) {
    throw new PromotionRefused(
      `${from}'s outputs and releases/${from}.yaml disagree: ${drifted.map((s) => `${s} runs ${deployed[s].image}, the manifest pins ${manifest[s]?.image ?? "nothing"}`).join("; ")}. ` +
        `Deploy ${from} from main and verify it before promoting`,
    );
  }

  const target = stackRegistry(projectDir, to);
  const elsewhere = SERVICE_NAMES.filter((s) => parseImageReference(deployed[s].image)?.repository !== imageRepository(target, s));
  if (elsewhere.length > 0) throw new PromotionRefused(`${to} pulls from ${target}, but ${from} ran ${elsewhere.map((s) => deployed[s].image).join(", ")}; the two stacks must share the registry`);

  const pins = [...SERVICE_NAMES, ...(deployed[BACKUP_IMAGE] ? [BACKUP_IMAGE] : [])];
  // The outputs' entries have exactly the manifest's fields (model/outputs.ts), in the same order.
  return writeChanges(projectDir, to, readManifest(projectDir, to), Object.fromEntries(pins.map((s) => [s, deployed[s]])), SERVICE_NAMES.length);
}

export async function main(argv: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr, projectDir = PROJECT_DIR): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, strict: true, options: { from: { type: "string" }, to: { type: "string" }, outputs: { type: "string" }, "verify-report": { type: "string" } } }));
    for (const flag of ["from", "to", "verify-report"] as const) if (!values[flag]) throw new Error(`--${flag} is required`);
  } catch (e) {
    err.write(`promote: ${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const from = values.from!;
  try {
    const raw = values.outputs ? await readOutputsFile(values.outputs) : await readStackOutputs(from, resolveBackend(process.env, projectDir), projectDir);
    const outputs = parseOutputs(raw, values.outputs ?? `stack ${from}`);
    const verifyReport: unknown = await readFile(values["verify-report"]!, "utf8")
      .then(JSON.parse)
      .catch((e: Error) => {
        throw new PromotionRefused(`cannot read the verify report ${values["verify-report"]}: ${e.message}`);
      });
    out.write(`${promote({ from, to: values.to!, outputs, verifyReport, projectDir })}\n`);
    return 0;
  } catch (e) {
    const refused = e instanceof PromotionRefused || e instanceof OutputsError || e instanceof ManifestError;
    err.write(`promote: ${refused ? `refused, releases/${values.to}.yaml is unchanged: ` : ""}${(e as Error).message}\n`);
    return 1;
  }
}

if (require.main === module) runCli("promote", () => main(process.argv.slice(2)));
