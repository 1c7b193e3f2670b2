/**
 * The portugal-odyssey program: one Environment per stack.
 * Config is validated before any resource is registered; a bad value stops the
 * run with one message and nothing created.
 */
import { Environment } from "./components/environment";
import { loadStackConfig } from "./config/load";

export = async () => {
  const { settings, secretsFromConfig } = loadStackConfig();
  return new Environment(settings.env, { settings, secretsFromConfig }).outputs;
};
