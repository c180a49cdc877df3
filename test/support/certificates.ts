/**
 * Certificates for tests, made by the `openssl` binary (tests that need them skip without it):
 * self-signed ones for HTTPS, and a CA with certificates it signs for the node port's TLS.
 */

import { execFileSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

export function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Files of a certificate and its private key (PEM). */
export interface CertificateFiles {
  readonly cert: string;
  readonly key: string;
}

const EC_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
const LOOPBACK_NAMES = "subjectAltName=IP:127.0.0.1,DNS:localhost";

/** A self-signed certificate for 127.0.0.1 and localhost; also serves as a CA (`issuedBy`). */
export function selfSigned(dir: string, name: string): CertificateFiles {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      ...["req", "-x509", ...EC_KEY, "-keyout", key, "-out", cert, "-days", "1"],
      ...["-subj", `/CN=${name}`, "-addext", LOOPBACK_NAMES],
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}

/** A certificate for 127.0.0.1 and localhost that `ca` (a `selfSigned` one) signs. */
export function issuedBy(ca: CertificateFiles, dir: string, name: string): CertificateFiles {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  const request = join(dir, `${name}.csr`);
  const extensions = join(dir, `${name}.ext`);
  execFileSync(
    "openssl",
    ["req", "-new", ...EC_KEY, "-keyout", key, "-out", request, "-subj", `/CN=${name}`],
    { stdio: "ignore" },
  );
  writeFileSync(extensions, `${LOOPBACK_NAMES}\n`);
  execFileSync(
    "openssl",
    [
      ...["x509", "-req", "-in", request, "-CA", ca.cert, "-CAkey", ca.key, "-CAcreateserial"],
      ...["-out", cert, "-days", "1", "-extfile", extensions],
    ],
    { stdio: "ignore" },
  );
  return { cert, key };
}
