import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import {
  RequestIdentityKeyError,
  RequestSigner,
  generateSigningKey,
  readSigningKeyFile,
} from "./request_identity.js";

// The key pair of Restate's own tests of its signer (crates/service-client), with the key id
// Restate derives from it.
const PRIVATE_KEY = `-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIPe++4ZTPQDF81otpoU/mOGHC2vOAVp9WbiCblvn3nXO
-----END PRIVATE KEY-----
`;
const PUBLIC_KEY = `-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAj5BTvH+WJo0QGHm2hdLOuk6P7szKgTQxmpnnmZe/DcU=
-----END PUBLIC KEY-----
`;
const KEY_ID = "publickeyv1_AfQwmwfgEZhrWpvv8N52SHpRtZqGGaFr4AZN6qtYWSiY";

function decodePart(part: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("request identity v1", () => {
  it("names the key as Restate does", () => {
    assert.equal(new RequestSigner(PRIVATE_KEY).publicKeyId, KEY_ID);
  });

  it("signs a JWT for the path, valid a minute either side, that the public key verifies", () => {
    const headers = new RequestSigner(PRIVATE_KEY).headers("/invoke/Svc/run", undefined, 1_000_000);
    assert.equal(headers["x-restate-signature-scheme"], "v1");
    const [header, claims, signature] = headers["x-restate-jwt-v1"]!.split(".");
    assert.deepEqual(decodePart(header!), { typ: "JWT", alg: "EdDSA", kid: KEY_ID });
    assert.deepEqual(decodePart(claims!), {
      aud: "/invoke/Svc/run",
      exp: 1_000_060,
      iat: 1_000_000,
      nbf: 999_940,
    });
    const valid = verify(
      null,
      Buffer.from(`${header}.${claims}`),
      createPublicKey(PUBLIC_KEY),
      Buffer.from(signature!, "base64url"),
    );
    assert.equal(valid, true);
    const forged = verify(
      null,
      Buffer.from(`${header}.${claims}x`),
      createPublicKey(PUBLIC_KEY),
      Buffer.from(signature!, "base64url"),
    );
    assert.equal(forged, false);
  });

  it("names the object's key as subject", () => {
    const headers = new RequestSigner(PRIVATE_KEY).headers("/invoke/Obj/add", "k/1", 5);
    const claims = decodePart(headers["x-restate-jwt-v1"]!.split(".")[1]!);
    assert.equal(claims["sub"], "k/1");
    assert.equal(claims["nbf"], 0);
  });

  it("reuses a token only within its second, for the same path and subject", () => {
    const signer = new RequestSigner(PRIVATE_KEY);
    const jwt = (path: string, subject: string | undefined, now: number): string =>
      signer.headers(path, subject, now)["x-restate-jwt-v1"]!;
    const first = jwt("/invoke/Obj/add", "a", 100.1);
    // Ed25519 is deterministic: a reused token is what a fresh signer gives.
    assert.equal(jwt("/invoke/Obj/add", "a", 100.9), first);
    assert.equal(
      new RequestSigner(PRIVATE_KEY).headers("/invoke/Obj/add", "a", 100)["x-restate-jwt-v1"],
      first,
    );
    assert.notEqual(jwt("/invoke/Obj/add", "b", 100.5), first);
    assert.notEqual(jwt("/invoke/Obj/add", undefined, 100.5), first);
    assert.notEqual(jwt("/invoke/Obj/get", "a", 100.5), first);
    const next = jwt("/invoke/Obj/add", "a", 101);
    assert.notEqual(next, first);
    assert.equal(decodePart(next.split(".")[1]!)["iat"], 101);
    const long = "k".repeat(10_000);
    assert.equal(decodePart(jwt("/invoke/Obj/add", long, 101).split(".")[1]!)["sub"], long);
  });

  it("generates key pairs whose public key id matches the private key", () => {
    const generated = generateSigningKey();
    assert.match(generated.publicKeyId, /^publickeyv1_[1-9A-HJ-NP-Za-km-z]{43,44}$/);
    assert.equal(new RequestSigner(generated.privateKeyPem).publicKeyId, generated.publicKeyId);
  });

  it("refuses key files that cannot sign, saying why", () => {
    const dir = mkdtempSync(join(tmpdir(), "keel-identity-"));
    const write = (name: string, text: string): string => {
      const file = join(dir, name);
      writeFileSync(file, text);
      return file;
    };
    assert.throws(() => readSigningKeyFile(join(dir, "missing.pem")), /cannot read .*ENOENT/);
    assert.throws(
      () => readSigningKeyFile(write("empty.pem", "")),
      (e: Error) => e instanceof RequestIdentityKeyError && /found 0 PEM blocks/.test(e.message),
    );
    assert.throws(
      () => readSigningKeyFile(write("two.pem", PRIVATE_KEY + PRIVATE_KEY)),
      /found 2 PEM blocks/,
    );
    assert.throws(
      () => readSigningKeyFile(write("public.pem", PUBLIC_KEY)),
      /not a private key in PEM format/,
    );
    assert.throws(
      () => readSigningKeyFile(write("garbled.pem", PRIVATE_KEY.replace("MC4C", "AAAA"))),
      /not a private key in PEM format/,
    );
    assert.equal(readSigningKeyFile(write("good.pem", PRIVATE_KEY)).publicKeyId, KEY_ID);
  });
});
