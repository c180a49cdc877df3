/**
 * The node's logger: one line per event on stderr, as text for a person or as one JSON object per
 * line for a log collector, with a level per module that the admin API changes at run time.
 *
 * Invariants:
 * - Modules are a fixed list (`LOG_MODULES`): a level can only be set for a module that logs, so a
 *   typo is refused instead of silently doing nothing.
 * - A module without a level of its own follows the node's default level, also when that changes.
 * - A JSON line always has `time`, `level`, `node`, `module` and `message`; the caller's fields
 *   follow at the top level (a field named like one of those is kept under `field_<name>`), and an
 *   invocation id given as `invocation` is written as `invocation_id`, so collectors can index it
 *   under one name.
 */

import { assert } from "../../core/index.js";
import type { Logger } from "../index.js";

export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFormat = "text" | "json";

export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/** The parts of a node that log under a name of their own. */
export const LOG_MODULES = [
  "node",
  "ingress",
  "admin",
  "invoker",
  "partition",
  "cluster",
  "snapshots",
  "endpoint",
] as const;
export type LogModule = (typeof LOG_MODULES)[number];

export function isLogLevel(value: unknown): value is LogLevel {
  return typeof value === "string" && (LOG_LEVELS as readonly string[]).includes(value);
}

export function isLogModule(value: unknown): value is LogModule {
  return typeof value === "string" && (LOG_MODULES as readonly string[]).includes(value);
}

/** The levels in force: the node's default and the modules that have one of their own. */
export class LogLevels {
  private defaultLevel: LogLevel;
  private readonly own = new Map<LogModule, LogLevel>();
  /** The lowest level in force anywhere: a call below it returns before looking anything up. */
  private floor: number;

  constructor(defaultLevel: LogLevel) {
    this.defaultLevel = defaultLevel;
    this.floor = ORDER[defaultLevel];
  }

  get default(): LogLevel {
    return this.defaultLevel;
  }

  setDefault(level: LogLevel): void {
    this.defaultLevel = level;
    this.refloor();
  }

  /** Gives the module a level of its own, or (`undefined`) makes it follow the default again. */
  setModule(module: LogModule, level: LogLevel | undefined): void {
    if (level === undefined) this.own.delete(module);
    else this.own.set(module, level);
    this.refloor();
  }

  levelOf(module: LogModule): LogLevel {
    return this.own.get(module) ?? this.defaultLevel;
  }

  enabled(module: LogModule, level: LogLevel): boolean {
    const order = ORDER[level];
    if (order < this.floor) return false;
    return order >= ORDER[this.levelOf(module)];
  }

  /** The default and every module's level in force, as the admin API shows them. */
  describe(): { default: LogLevel; modules: Record<LogModule, LogLevel>; own: LogModule[] } {
    const modules = {} as Record<LogModule, LogLevel>;
    for (const module of LOG_MODULES) modules[module] = this.levelOf(module);
    return { default: this.defaultLevel, modules, own: [...this.own.keys()].sort() };
  }

  private refloor(): void {
    let floor = ORDER[this.defaultLevel];
    for (const level of this.own.values()) floor = Math.min(floor, ORDER[level]);
    this.floor = floor;
  }
}

/** A logger that writes the node's events; `forModule` gives each part of the node its own. */
export interface NodeLogger extends Logger {
  readonly levels: LogLevels;
  readonly format: LogFormat;
  /** Asks for a module of `LOG_MODULES`; another name is a bug (nothing could set its level). */
  forModule(module: string): Logger;
}

const RESERVED_KEYS = new Set(["time", "level", "node", "module", "message"]);

/**
 * The node's logger on stderr (or `write`, for tests). The logger itself logs as module `node`;
 * `forModule` loggers share its levels.
 */
export function consoleLogger(
  level: LogLevel,
  node: string,
  format: LogFormat = "text",
  write: (line: string) => void = (line) => void process.stderr.write(line),
): NodeLogger {
  const levels = new LogLevels(level);
  const line = format === "json" ? jsonLine : textLine;
  const loggerOf = (module: LogModule): Logger => {
    const emit = (at: LogLevel, message: string, fields?: Record<string, unknown>): void => {
      if (!levels.enabled(module, at)) return;
      write(line(new Date().toISOString(), at, node, module, message, fields));
    };
    return {
      debug: (m, f) => emit("debug", m, f),
      info: (m, f) => emit("info", m, f),
      warn: (m, f) => emit("warn", m, f),
      error: (m, f) => emit("error", m, f),
    };
  };
  const modules = new Map<LogModule, Logger>(LOG_MODULES.map((m) => [m, loggerOf(m)]));
  const own = modules.get("node")!;
  return {
    ...own,
    levels,
    format,
    forModule: (module) => {
      assert(isLogModule(module), `log module '${module}' is one of ${LOG_MODULES.join(", ")}`);
      return modules.get(module)!;
    },
  };
}

/** A logger for one module of the node, when the logger has modules (a test's logger may not). */
export function moduleLogger(logger: Logger, module: LogModule): Logger {
  return logger.forModule?.(module) ?? logger;
}

/** The run-time levels of a node's logger, if it has them (a test's logger may not). */
export function logLevelsOf(logger: Logger): LogLevels | undefined {
  const levels = (logger as Partial<NodeLogger>).levels;
  return levels instanceof LogLevels ? levels : undefined;
}

function textLine(
  time: string,
  level: LogLevel,
  node: string,
  module: LogModule,
  message: string,
  fields: Record<string, unknown> | undefined,
): string {
  const extra = fields === undefined ? "" : ` ${JSON.stringify(fields)}`;
  const where = module === "node" ? node : `${node} ${module}`;
  return `${time} ${level.toUpperCase().padEnd(5)} [${where}] ${message}${extra}\n`;
}

function jsonLine(
  time: string,
  level: LogLevel,
  node: string,
  module: LogModule,
  message: string,
  fields: Record<string, unknown> | undefined,
): string {
  const record: Record<string, unknown> = { time, level, node, module, message };
  if (fields !== undefined) {
    for (const key of Object.keys(fields)) {
      const name = key === "invocation" ? "invocation_id" : key;
      record[RESERVED_KEYS.has(name) ? `field_${name}` : name] = fields[key];
    }
  }
  return `${safeJson(record)}\n`;
}

/** JSON of a log record; a field JSON cannot hold (a cycle, a bigint) is written as its text. */
function safeJson(record: Record<string, unknown>): string {
  try {
    return JSON.stringify(record);
  } catch {
    const plain: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(record)) {
      try {
        JSON.stringify(value);
        plain[key] = value;
      } catch {
        plain[key] = String(value);
      }
    }
    return JSON.stringify(plain);
  }
}
