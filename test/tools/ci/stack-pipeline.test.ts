import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { allStackCiSettings } from "../../../config/gitlab-settings";
import { main, renderStackPipeline, stackPipeline } from "../../../tools/ci/stack-pipeline";

const ROOT = join(__dirname, "..", "..", "..");

describe("the generated child pipeline", () => {
  it("names the stack files it was generated from and includes the job templates", () => {
    const text = renderStackPipeline("schedule", ROOT);
    for (const s of allStackCiSettings(ROOT)) expect(text.split("\n")[0]).toContain(`Pulumi.${s.stack}.yaml`);
    expect(parse(text).include).toEqual([{ local: ".gitlab/stack-jobs.yml" }]);
  });

  it("posts one summary covering every stack's preview", () => {
    const stacks = allStackCiSettings(ROOT);
    const summary = (stackPipeline("merge_request_event", stacks) as Record<string, { script: string[] }>)["preview-summary"];
    expect(summary.script.at(-1)).toBe(`npx tsx tools/ci/post-preview-summary.ts ${stacks.map((s) => `${s.stack}=preview-${s.stack}.json`).join(" ")}`);
  });

  it("refuses a project without stack files, and an unknown event", () => {
    expect(() => stackPipeline("push", [])).toThrow(/no Pulumi.<stack>.yaml/);
    expect(() => main(["--event", "web"], ROOT)).toThrow(/--event must be one of merge_request_event, push, schedule/);
  });

  it("fails with the stack file and key when a stack's CI settings are wrong, so the pipeline stops before any stack job", () => {
    const dir = mkdtempSync(join(tmpdir(), "stack-pipeline-"));
    writeFileSync(join(dir, "Pulumi.yaml"), "name: portugal-odyssey\nruntime: nodejs\n");
    writeFileSync(join(dir, "Pulumi.qual.yaml"), "config:\n  gitlab:deploy: always\n");
    expect(() => renderStackPipeline("push", dir)).toThrow("Pulumi.qual.yaml: gitlab:deploy: expected automatic or manual");
  });
});
