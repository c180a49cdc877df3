/**
 * Node-to-node authentication with a shared cluster secret (`--cluster-secret-file`): before the
 * hello, the two ends of a connection prove to each other that they hold the cluster's key, by a
 * challenge and response that binds a fresh nonce of each side, so a recorded handshake proves
 * nothing on another connection.
 *
 *   dialer   → auth(challenge: nonce D)
 *   acceptor → auth(answer: nonce A, HMAC(key, "acceptor" | D | A))
 *   dialer   → auth(proof: HMAC(key, "dialer" | D | A)), then its hello
 *
 * The key is HMAC-SHA256(secret, "keel cluster " + cluster name): one secret shared by two clusters
 * still gives each its own key. The handshake authenticates the peer; it does not encrypt the
 * traffic (docs/security.md says what that leaves open).
 */

import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { KeelError } from "../../core/index.js";
import { ByteReader, ByteWriter, DecodeError } from "../../wire/index.js";

export const AUTH_NONCE_BYTES = 32;
/** An accepted connection that has not authenticated by then is closed. */
export const AUTH_TIMEOUT_MS = 5_000;
/** A secret shorter than this is refused: it could be guessed. */
const SECRET_BYTES_MIN = 16;

export type AuthFrame =
  | { readonly phase: "challenge"; readonly nonce: Uint8Array }
  | { readonly phase: "answer"; readonly nonce: Uint8Array; readonly proof: Uint8Array }
  | { readonly phase: "proof"; readonly proof: Uint8Array };

const PHASES: readonly AuthFrame["phase"][] = ["challenge", "answer", "proof"];

export function encodeAuthFrame(frame: AuthFrame): Uint8Array {
  const w = new ByteWriter().u8(PHASES.indexOf(frame.phase) + 1);
  if (frame.phase !== "proof") w.bytes(frame.nonce);
  if (frame.phase !== "challenge") w.bytes(frame.proof);
  return w.finish();
}

/** Decodes an auth frame; throws DecodeError for anything else (a wrong size included). */
export function decodeAuthFrame(payload: Uint8Array): AuthFrame {
  const r = new ByteReader(payload);
  const phase = PHASES[r.u8() - 1];
  if (phase === undefined) throw new DecodeError("unknown auth phase");
  const nonce = phase === "proof" ? undefined : r.bytes();
  const proof = phase === "challenge" ? undefined : r.bytes();
  r.end();
  if (nonce !== undefined && nonce.length !== AUTH_NONCE_BYTES)
    throw new DecodeError(`an auth nonce has ${AUTH_NONCE_BYTES} bytes`);
  if (phase === "challenge") return { phase, nonce: nonce! };
  if (phase === "answer") return { phase, nonce: nonce!, proof: proof! };
  return { phase, proof: proof! };
}

/** The cluster's key, derived from its secret and name. */
export class ClusterCredentials {
  private readonly key: Buffer;

  constructor(secret: Uint8Array, clusterName: string) {
    if (secret.length < SECRET_BYTES_MIN)
      throw new KeelError(
        "bad_request",
        `a cluster secret has at least ${SECRET_BYTES_MIN} bytes, found ${secret.length}`,
      );
    this.key = createHmac("sha256", secret).update(`keel cluster ${clusterName}`).digest();
  }

  static nonce(): Uint8Array {
    return new Uint8Array(randomBytes(AUTH_NONCE_BYTES));
  }

  proof(
    role: "acceptor" | "dialer",
    dialerNonce: Uint8Array,
    acceptorNonce: Uint8Array,
  ): Uint8Array {
    return new Uint8Array(
      createHmac("sha256", this.key)
        .update(`keel node auth v1 ${role}`)
        .update(dialerNonce)
        .update(acceptorNonce)
        .digest(),
    );
  }

  /** Compares a proof in constant time. */
  static matches(proof: Uint8Array, expected: Uint8Array): boolean {
    return proof.length === expected.length && timingSafeEqual(proof, expected);
  }
}
