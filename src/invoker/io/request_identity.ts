/**
 * Request identity, scheme v1 (as Restate signs its requests to service endpoints): every request
 * carries `x-restate-signature-scheme: v1` and `x-restate-jwt-v1`, a JWT signed with the node's
 * Ed25519 key (EdDSA) whose audience is the request's path, valid for a minute either side of its
 * issuing time, with the object's or workflow's key as subject. The key id (`kid`) is the public key
 * in the SDKs' form, `publickeyv1_<base58>`: an endpoint started with
 * `identityKeys: ["publickeyv1_…"]` accepts only requests signed by the matching private key.
 */

import { createPrivateKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { encodeBase58, limits, toBase64Url, utf8 } from "../../core/index.js";

export const SIGNATURE_SCHEME_HEADER = "x-restate-signature-scheme";
export const JWT_V1_HEADER = "x-restate-jwt-v1";
const PUBLIC_KEY_PREFIX = "publickeyv1_";

/** A key file that cannot sign: missing, unreadable, not one PEM block, or not an Ed25519 key. */
export class RequestIdentityKeyError extends Error {
  override readonly name = "RequestIdentityKeyError";
}

/** The public key of an Ed25519 key pair in the SDKs' `publickeyv1_` form. */
export function publicKeyIdOf(key: KeyObject): string {
  const jwk = key.export({ format: "jwk" });
  if (jwk.x === undefined) throw new RequestIdentityKeyError("the key has no public part");
  return PUBLIC_KEY_PREFIX + encodeBase58(Buffer.from(jwk.x, "base64url"));
}

/** Parses a PEM text holding exactly one Ed25519 private key (PKCS#8, as openssl writes it). */
export function parseSigningKey(pem: string, where: string): KeyObject {
  const blocks = pem.match(/-----BEGIN [A-Z0-9 ]+-----/g)?.length ?? 0;
  if (blocks !== 1)
    throw new RequestIdentityKeyError(
      `${where}: expected exactly one private key in PEM format, found ${blocks} PEM blocks`,
    );
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, format: "pem" });
  } catch (error) {
    throw new RequestIdentityKeyError(
      `${where}: not a private key in PEM format (${(error as Error).message})`,
    );
  }
  if (key.asymmetricKeyType !== "ed25519")
    throw new RequestIdentityKeyError(
      `${where}: expected an Ed25519 private key, found a ${key.asymmetricKeyType ?? "unknown"} key (make one with 'keel keys generate' or 'openssl genpkey -algorithm ed25519')`,
    );
  return key;
}

/** Reads and checks a key file at start-up, so a bad file stops the start with a clear message. */
export function readSigningKeyFile(file: string): { pem: string; publicKeyId: string } {
  let pem: string;
  try {
    pem = readFileSync(file, "utf8");
  } catch (error) {
    throw new RequestIdentityKeyError(
      `request-identity-private-key-pem-file: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
    );
  }
  const key = parseSigningKey(pem, `request-identity-private-key-pem-file ${file}`);
  return { pem, publicKeyId: publicKeyIdOf(key) };
}

/** A fresh key pair: the private key as PKCS#8 PEM and the public key in the SDKs' form. */
export function generateSigningKey(): { privateKeyPem: string; publicKeyId: string } {
  const { privateKey, publicKey } = generateKeyPairSync("ed25519");
  return {
    privateKeyPem: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    publicKeyId: publicKeyIdOf(publicKey),
  };
}

/**
 * Signs requests with one key; the JWT's header is the same for every request and encoded once.
 * Tokens of the current second are kept by path and subject: a token is a function of those and the
 * second alone, so a busy handler is signed once a second instead of once a request.
 */
export class RequestSigner {
  private readonly key: KeyObject;
  private readonly encodedHeader: string;
  readonly publicKeyId: string;
  private readonly tokens = new Map<string, string>();
  private tokensSecond = -1;

  constructor(pem: string) {
    this.key = parseSigningKey(pem, "request identity key");
    this.publicKeyId = publicKeyIdOf(this.key);
    this.encodedHeader = base64UrlJson({ typ: "JWT", alg: "EdDSA", kid: this.publicKeyId });
  }

  /**
   * The identity headers of a request to `path` (its path only, as the endpoint sees it), with the
   * invocation's object or workflow key as subject; `nowSeconds` is the Unix time.
   */
  headers(path: string, subject: string | undefined, nowSeconds: number): Record<string, string> {
    const iat = Math.floor(nowSeconds);
    if (iat !== this.tokensSecond) {
      this.tokens.clear();
      this.tokensSecond = iat;
    }
    // Paths are percent-encoded: they never hold a NUL, so the key names one (path, subject).
    const cacheKey = subject === undefined ? path : `${path}\0${subject}`;
    let token = this.tokens.get(cacheKey);
    if (token === undefined) {
      token = this.sign(path, subject, iat);
      const cacheable =
        this.tokens.size < limits.requestIdentityTokensCachedMax &&
        (subject === undefined || subject.length <= limits.requestIdentityCachedSubjectCharsMax);
      if (cacheable) this.tokens.set(cacheKey, token);
    }
    return { [SIGNATURE_SCHEME_HEADER]: "v1", [JWT_V1_HEADER]: token };
  }

  private sign(path: string, subject: string | undefined, iat: number): string {
    const leeway = limits.requestIdentityLeewaySeconds;
    const claims: Record<string, string | number> = {
      aud: path,
      exp: iat + leeway,
      iat,
      nbf: Math.max(0, iat - leeway),
    };
    if (subject !== undefined) claims["sub"] = subject;
    const signingInput = `${this.encodedHeader}.${base64UrlJson(claims)}`;
    const signature = sign(null, Buffer.from(signingInput), this.key);
    return `${signingInput}.${toBase64Url(signature)}`;
  }
}

function base64UrlJson(value: unknown): string {
  return toBase64Url(utf8(JSON.stringify(value)));
}
