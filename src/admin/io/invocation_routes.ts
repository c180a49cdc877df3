/**
 * Admin routes that act on invocations and keys: cancel, kill, purge, purge journal, pause, resume,
 * restart as new, and state edits. Each becomes one record in the target's partition; the answer is
 * the outcome of applying it, mapped to Restate's statuses and messages.
 *
 * Deployment choices (`?deployment=Keep|Latest|dp_…`) are resolved here, against the schema and the
 * invocation's pinned protocol version, so that the record carries a concrete deployment id.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import { limits, utf8, isDeploymentId, type InvocationId } from "../../core/index.js";
import type { Outcome } from "../../partition/index.js";
import type { KeelNode } from "../../node/index.js";
import {
  AdminError,
  bodyError,
  invalidQueryParameter,
  invocationNotFound,
  missingField,
  noContent,
  numberOutOfRange,
  parseInvocationId,
  readJsonBody,
  u32QueryParameter,
  serviceNotFound,
  stringField,
} from "./admin_common.js";
import { sendJson } from "../../platform/io/index.js";

export type Termination = "cancel" | "kill";

export class InvocationRoutes {
  constructor(private readonly node: KeelNode) {}

  async terminate(res: ServerResponse, text: string, kind: Termination): Promise<void> {
    const outcome = await this.node.terminate(parseInvocationId(text), kind);
    if (outcome.kind === "alreadyCompleted")
      throw new AdminError(409, `The invocation '${text}' was already completed.`);
    this.answer(res, text, outcome, outcome.kind === "signalAppended" ? 202 : 200);
  }

  async purge(res: ServerResponse, text: string, journalOnly: boolean): Promise<void> {
    const outcome = await this.node.purge(parseInvocationId(text), journalOnly);
    this.answer(res, text, outcome, 200);
  }

  async pause(res: ServerResponse, text: string): Promise<void> {
    const outcome = await this.node.pause(parseInvocationId(text));
    switch (outcome.kind) {
      case "alreadyPaused":
        return noContent(res, 200);
      case "notRunning":
        throw new AdminError(409, `The invocation '${text}' is not running, cannot be paused.`);
      default:
        return this.answer(res, text, outcome, 202);
    }
  }

  async resume(res: ServerResponse, text: string, url: URL): Promise<void> {
    const id = parseInvocationId(text);
    const deploymentId = await this.chosenDeployment(id, url, "resume");
    const outcome = await this.node.resume(id, deploymentId);
    switch (outcome.kind) {
      case "notStarted":
        throw new AdminError(
          425,
          `The invocation '${text}' is either inboxed or scheduled, cannot be resumed.`,
        );
      case "alreadyCompleted":
        throw new AdminError(409, `The invocation '${text}' is completed, cannot be resumed.`);
      default:
        return this.answer(res, text, outcome, 200);
    }
  }

  async restartAsNew(res: ServerResponse, text: string, url: URL): Promise<void> {
    // The query string is read before the path's id, as Restate's extractors do.
    const from = u32QueryParameter(url, "from") ?? 0;
    const id = parseInvocationId(text);
    const deploymentId = await this.chosenDeployment(id, url, "restart");
    const outcome = await this.node.restartAsNew(id, from, deploymentId);
    switch (outcome.kind) {
      case "restarted":
        return sendJson(res, 200, { new_invocation_id: outcome.newInvocationId.toString() });
      case "stillRunning":
        throw new AdminError(409, `The invocation '${text}' is still running.`);
      case "notStarted":
        throw new AdminError(
          425,
          `The invocation '${text}' cannot be restarted because it's not running yet.`,
        );
      default:
        return this.answer(res, text, outcome, 200);
    }
  }

  /**
   * The deployment a resume or restart moves the invocation to: "" keeps the pinned one. `Latest`
   * is the service's current deployment; both it and an explicit id must speak the pinned protocol.
   */
  private async chosenDeployment(
    id: InvocationId,
    url: URL,
    action: "resume" | "restart",
  ): Promise<string> {
    const choice = url.searchParams.get("deployment");
    if (choice === null || choice === "Keep" || choice === "keep") return "";
    const status = await this.node.invocationStatus(id);
    if (status === undefined) throw invocationNotFound(id.toString());
    const schema = this.node.schema();
    const latest = choice === "Latest" || choice === "latest";
    const deploymentId = latest
      ? schema.service(status.target?.service ?? "")?.deploymentId
      : choice;
    const deployment = deploymentId === undefined ? undefined : schema.deployment(deploymentId);
    const pinned = status.pinned;
    if (deployment === undefined) {
      if (!latest && !isDeploymentId(choice))
        throw invalidQueryParameter("deployment", "bad format");
      const what = action === "resume" ? "resume" : "restart as new";
      throw new AdminError(
        400,
        `The given deployment was not found when trying to ${what} the invocation '${id.toString()}'.`,
      );
    }
    // Pinning to the latest deployment before anything is pinned changes nothing.
    if (pinned === undefined) return latest ? "" : deployment.id;
    const version = pinned.protocolVersion;
    if (version < deployment.minProtocolVersion || version > deployment.maxProtocolVersion) {
      throw new AdminError(
        400,
        `The invocation '${id.toString()}' is running on protocol version '${version}', while the chosen deployment '${deployment.id}' supports the range ${deployment.minProtocolVersion}..=${deployment.maxProtocolVersion}.`,
      );
    }
    return deployment.id;
  }

  /** POST /services/{name}/state: replace the state of one key, optionally at a version. */
  async patchState(req: IncomingMessage, res: ServerResponse, serviceName: string): Promise<void> {
    const body = await readJsonBody(req, limits.adminStateBodyBytesMax);
    const key = stringField(body["object_key"], "object_key");
    if (key === undefined) throw missingField("object_key");
    const version = stringField(body["version"], "version");
    const newState = stateEntries(body["new_state"]);
    const service = this.node.schema().service(serviceName);
    if (service === undefined) {
      // State of a deleted service may still be cleared.
      if (newState.length > 0) throw serviceNotFound(serviceName);
    } else if (service.ty === "Service") {
      throw new AdminError(400, `Cannot modify state for service type ${service.ty}`);
    }
    await this.node.patchState(serviceName, key, newState, version);
    noContent(res, 202);
  }

  private answer(res: ServerResponse, id: string, outcome: Outcome, okStatus: number): void {
    switch (outcome.kind) {
      case "notFound":
        throw invocationNotFound(id);
      case "alreadyCompleted":
        throw new AdminError(409, `The invocation '${id}' was already completed.`);
      case "rejected":
        throw new AdminError(outcome.code, outcome.message);
      default:
        return noContent(res, okStatus);
    }
  }
}

/** `new_state`: key → byte array (a string is taken as its UTF-8 bytes). */
function stateEntries(value: unknown): { key: Uint8Array; value: Uint8Array }[] {
  if (value === undefined || value === null) throw missingField("new_state");
  if (typeof value !== "object" || Array.isArray(value))
    throw bodyError("new_state: expected a map of byte arrays");
  return Object.entries(value as Record<string, unknown>).map(([key, bytes]) => ({
    key: utf8(key),
    value: byteValue(key, bytes),
  }));
}

function byteValue(key: string, value: unknown): Uint8Array {
  if (typeof value === "string") return utf8(value);
  if (!Array.isArray(value)) throw bodyError(`new_state.${key}: expected a byte array`);
  const bytes = new Uint8Array(value.length);
  value.forEach((b: unknown, i) => {
    if (typeof b === "number" && !Number.isFinite(b))
      throw numberOutOfRange(`new_state.${key}[${i}]`);
    if (typeof b !== "number" || !Number.isInteger(b) || b < 0 || b > 255)
      throw bodyError(`new_state.${key}[${i}]: invalid value: ${JSON.stringify(b)}, expected u8`);
    bytes[i] = b;
  });
  return bytes;
}
