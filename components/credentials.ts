import * as pulumi from "@pulumi/pulumi";
import * as random from "@pulumi/random";
import { BACKUP_SECRETS, EXTERNAL_SECRETS, type Credential } from "../catalog/types";
import { TYPE_TOKENS, childName } from "../model/naming";

export interface CredentialsArgs {
  /** Every credential some container's env names. */
  needed: Credential[];
  /**
   * Credentials the stack sets as config secrets, as secret Outputs. They win
   * over generated ones: a data volume keeps the password it was initialised
   * with, so taking over an existing volume means supplying its password.
   * External credentials can only come from here (config/ requires them).
   */
  fromConfig: Partial<Record<Credential, pulumi.Output<string>>>;
}

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** The environment's credentials, each a secret Output: generated, or given from config secrets. */
export class Credentials extends pulumi.ComponentResource {
  readonly values: Partial<Record<Credential, pulumi.Output<string>>> = {};

  constructor(name: string, args: CredentialsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TYPE_TOKENS.credentials, name, {}, opts);
    for (const credential of [...new Set(args.needed)].sort()) {
      const given = args.fromConfig[credential];
      if (!given && ([...EXTERNAL_SECRETS, ...BACKUP_SECRETS] as readonly string[]).includes(credential)) {
        throw new Error(`external credential ${credential} was not passed in; config validation should have required it`);
      }
      this.values[credential] =
        given ??
        new random.RandomPassword(
          childName(name, kebab(credential)),
          // Alphanumeric only: these end up inside URLs (amqp://user:pass@host) and shell-free env files.
          { length: 32, special: false },
          { parent: this },
        ).result;
    }
    this.registerOutputs({});
  }
}
