/**
 * gitlab-ci-local's `--list-json`: the jobs GitLab would create for a pipeline,
 * validated against GitLab's schema, run in a throw-away git repository
 * (local includes and `rules: changes` read git).
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const GCL = join(__dirname, "..", "..", "node_modules", ".bin", "gitlab-ci-local");

export interface ListedJob {
  name: string;
  stage: string;
  when: string;
  allow_failure: boolean;
  needs?: Array<{ job: string; artifacts: boolean }>;
}

/**
 * The jobs of the pipeline in `files` (path → content) for these variables.
 * `changed`: files committed after origin/main, which `rules: changes` compares against (gitlab-ci-local runs `git diff origin/main`).
 */
export function listJobs(files: Record<string, string>, variables: Record<string, string> = {}, changed: Record<string, string> = {}): ListedJob[] {
  const dir = mkdtempSync(join(tmpdir(), "gcl-"));
  const commit = (tree: Record<string, string>) => {
    for (const [name, content] of Object.entries(tree)) {
      mkdirSync(join(dir, name, ".."), { recursive: true });
      writeFileSync(join(dir, name), content);
    }
    execFileSync("git", ["add", "-A"], { cwd: dir });
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "ci", "--allow-empty"], { cwd: dir });
  };
  try {
    execFileSync("git", ["init", "-q"], { cwd: dir });
    commit(files);
    execFileSync("git", ["update-ref", "refs/remotes/origin/main", "HEAD"], { cwd: dir });
    commit(changed);
    const args = ["--list-json", ...Object.entries(variables).flatMap(([k, v]) => ["--variable", `${k}=${v}`])];
    const out = execFileSync(process.execPath, [GCL, ...args], {
      cwd: dir,
      encoding: "utf8",
      env: { ...process.env, GCL_IGNORE_PREDEFINED_VARS: Object.keys(variables).join(","), FORCE_COLOR: "0" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    // The JSON list is the output's last part; anything before it is gitlab-ci-local's own log.
    const start = out.startsWith("[") ? 0 : out.indexOf("\n[") + 1;
    return JSON.parse(out.slice(start));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
