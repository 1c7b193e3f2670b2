/**
 * .gitlab-ci.yml as GitLab reads it: an optional header document (`spec: inputs`,
 * https://docs.gitlab.com/ci/inputs/) separated by `---` from the pipeline itself,
 * which is the last document.
 */
import { parseAllDocuments } from "yaml";

export function parsePipelineFile(text: string): Record<string, unknown> {
  const documents = parseAllDocuments(text, { merge: true });
  const pipeline = Array.isArray(documents) ? documents.at(-1) : undefined;
  const errors = pipeline?.errors ?? [];
  if (errors.length) throw new Error(`.gitlab-ci.yml is not valid YAML: ${errors[0].message}`);
  return (pipeline?.toJS() ?? {}) as Record<string, unknown>;
}
