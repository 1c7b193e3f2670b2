/**
 * Prints the references the backup image is pushed as, one per line: each
 * stack file's `<registry>/backup:<imageTag>`, the image model/backup.ts runs,
 * without duplicates. The `backup-image` job of .gitlab-ci.yml builds
 * backup/Dockerfile once and tags and pushes it under each.
 *
 *   npx tsx tools/ci/backup-image.ts
 */
import { resolve } from "node:path";
import { readStackFileConfig, stacksWithFiles } from "../../config/stack-files";
import { PROJECT } from "../../model/naming";

export function backupImageRefs(projectDir: string): string[] {
  const refs = stacksWithFiles(projectDir).map((stack) => {
    const config = readStackFileConfig(projectDir, stack);
    const [registry, tag] = [config[`${PROJECT}:registry`], config[`${PROJECT}:imageTag`]];
    if (typeof registry !== "string" || typeof tag !== "string") throw new Error(`stack ${stack} sets no registry or imageTag; run npm run preview -- --stack ${stack}`);
    return `${registry}/backup:${tag}`;
  });
  return [...new Set(refs)];
}

if (require.main === module) {
  try {
    process.stdout.write(`${backupImageRefs(resolve(__dirname, "..", "..")).join("\n")}\n`);
  } catch (error) {
    console.error(`backup-image: ${(error as Error).message}`);
    process.exitCode = 2;
  }
}
