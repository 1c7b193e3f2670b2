import { join } from "node:path";
import { readPreviewFile } from "../../../tools/ci/preview-json";

export const fixture = (name: string) => join(__dirname, "..", "..", "fixtures", name);
export const loadPreview = (name: string) => readPreviewFile(fixture(name));
