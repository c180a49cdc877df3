/**
 * `keel keys generate`: a request-identity key pair. The private key (PKCS#8 PEM) is what
 * `keel-server --request-identity-private-key-pem-file` reads; the public key, in the SDKs'
 * `publickeyv1_…` form, is what endpoints list in `identityKeys`.
 */

import { writeFileSync } from "node:fs";
import { generateSigningKey } from "../../invoker/io/index.js";
import { CliError, EXIT_SERVER_ERROR } from "./keel_cli.js";

export interface KeysOutput {
  /** What scripts read: the public key (with a file), or the PEM (without). */
  readonly out: (text: string) => void;
  /** What people read. */
  readonly note: (text: string) => void;
}

/**
 * With `file`, writes the private key there (owner-only, never over an existing file) and prints the
 * public key; without, prints the private key and tells the public key on the side, so that
 * `keel keys generate > key.pem` keeps only the key in the file.
 */
export function keysGenerateCommand(output: KeysOutput, file: string | undefined): void {
  const { privateKeyPem, publicKeyId } = generateSigningKey();
  if (file === undefined) {
    output.out(privateKeyPem.trimEnd());
    output.note(`public key (for the SDK's identityKeys): ${publicKeyId}`);
    return;
  }
  try {
    writeFileSync(file, privateKeyPem, { mode: 0o600, flag: "wx" });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new CliError(
      code === "EEXIST"
        ? `${file} exists already; keel keys generate never overwrites a key (remove it first, or choose another --out)`
        : `cannot write ${file}: ${code ?? (error as Error).message}`,
      EXIT_SERVER_ERROR,
    );
  }
  output.note(
    `wrote the private key to ${file}; start keel-server with --request-identity-private-key-pem-file ${file}`,
  );
  output.out(publicKeyId);
}
