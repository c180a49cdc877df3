/**
 * Keel's own admin routes for the node's log levels, changed at run time without a restart:
 *
 * - `GET /keel/log-levels`: the default level, every module's level in force, and the modules that
 *   have one of their own.
 * - `PUT /keel/log-levels/{module}` with `{"level": "debug"}`: gives the module its own level;
 *   the module `default` sets the node's default level (which modules without one follow).
 * - `DELETE /keel/log-levels/{module}`: the module follows the default level again.
 *
 * Errors are JSON with a `code` and a `message` naming what was wrong and what is allowed.
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import {
  LOG_LEVELS,
  LOG_MODULES,
  isLogLevel,
  isLogModule,
  readBody,
  sendJson,
  type LogLevels,
} from "../../platform/io/index.js";

/** A log-level request's body is a small JSON object. */
const LOG_LEVEL_BODY_BYTES_MAX = 4096;
export const DEFAULT_MODULE = "default";

export class LogLevelRoutes {
  constructor(
    private readonly levels: LogLevels | undefined,
    private readonly logger: { info(message: string, fields?: Record<string, unknown>): void },
  ) {}

  list(res: ServerResponse): void {
    const levels = this.available(res);
    if (levels === undefined) return;
    sendJson(res, 200, levels.describe());
  }

  async set(req: IncomingMessage, res: ServerResponse, module: string): Promise<void> {
    const levels = this.available(res);
    if (levels === undefined) return;
    if (module !== DEFAULT_MODULE && !isLogModule(module)) return unknownModule(res, module);
    let body: unknown;
    try {
      body = JSON.parse((await readBody(req, LOG_LEVEL_BODY_BYTES_MAX)).toString("utf8"));
    } catch (error) {
      return badRequest(
        res,
        `the body must be JSON such as {"level": "debug"}: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    const level =
      typeof body === "object" && body !== null ? (body as Record<string, unknown>)["level"] : body;
    if (!isLogLevel(level))
      return badRequest(
        res,
        `level: expected one of ${LOG_LEVELS.join(", ")}, found ${JSON.stringify(level) ?? "nothing"}`,
      );
    if (module === DEFAULT_MODULE) levels.setDefault(level);
    else levels.setModule(module, level);
    this.logger.info("log level changed", { changedModule: module, newLevel: level });
    sendJson(res, 200, levels.describe());
  }

  reset(res: ServerResponse, module: string): void {
    const levels = this.available(res);
    if (levels === undefined) return;
    if (module === DEFAULT_MODULE)
      return badRequest(
        res,
        `the default level cannot be removed: set it with PUT /keel/log-levels/${DEFAULT_MODULE}`,
      );
    if (!isLogModule(module)) return unknownModule(res, module);
    levels.setModule(module, undefined);
    this.logger.info("log level follows the default again", { changedModule: module });
    sendJson(res, 200, levels.describe());
  }

  private available(res: ServerResponse): LogLevels | undefined {
    if (this.levels === undefined)
      sendJson(res, 404, {
        code: "not_found",
        message: "this node's logger has no run-time levels (it was given by the embedding code)",
      });
    return this.levels;
  }
}

function badRequest(res: ServerResponse, message: string): void {
  sendJson(res, 400, { code: "bad_request", message });
}

function unknownModule(res: ServerResponse, module: string): void {
  sendJson(res, 404, {
    code: "not_found",
    message: `no log module '${module}': expected ${DEFAULT_MODULE} or one of ${LOG_MODULES.join(", ")}`,
  });
}
