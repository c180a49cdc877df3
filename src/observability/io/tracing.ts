/**
 * Traces of invocations through OpenTelemetry, exported over OTLP/HTTP (protobuf) to the collector
 * at `--tracing-endpoint`. One trace per ingress request and what it sets off:
 *
 *   ingress <target>            (server span of a request that submitted an invocation; child of the
 *   │                           caller's `traceparent`, if it sent one)
 *   └─ invocation <target>      (first attempt to completion)
 *      ├─ attempt <target>      (client span, one per attempt; its context goes to the endpoint as
 *      │  │                     `traceparent`, so the service's own spans join the trace)
 *      │  └─ Run, Call, Sleep…  (one per journal command the attempt wrote; one that waits for a
 *      │                        completion lasts until the leader applies it, or, if the
 *      │                        invocation suspended meanwhile, until it resumes)
 *      └─ …
 *   A call or send from an invocation starts the callee's `invocation` span as a child of the
 *   caller's running attempt.
 *
 * The parent of an invocation's spans travels with the invocation as a W3C `traceparent`: the
 * ingress (or the calling attempt's proposal) puts it in the `ServiceInvocation`, the partition
 * keeps it in the invocation's status, and the invoker of whichever node leads the partition hands
 * it back with each attempt. So a request that enters one node for a partition led by another, and
 * an invocation resumed by a new leader, stay in their trace.
 *
 * Spans carry `restate.invocation.id`, `restate.invocation.target`, `keel.partition` and the
 * resource's `keel.node`.
 *
 * Limits: the spans of open invocations live in memory, at most `TRACED_INVOCATIONS_MAX` (the oldest
 * is ended, marked truncated, beyond that). After a restart or a leader change the invocation's next
 * attempt opens a new `invocation` span under the same parent (the old node's open spans are lost
 * with it, or ended when it completes elsewhere, never exported as a whole).
 */

import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  defaultTextMapSetter,
  defaultTextMapGetter,
  type Span,
  type Tracer,
} from "@opentelemetry/api";
import { W3CTraceContextPropagator } from "@opentelemetry/core";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { resourceFromAttributes } from "@opentelemetry/resources";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  type SpanExporter,
} from "@opentelemetry/sdk-trace-base";
import type { IncomingHttpHeaders } from "node:http";
import { performance } from "node:perf_hooks";
import type {
  AttemptOutcomeKind,
  AttemptTrace,
  InvocationOutcome,
  InvocationTracing,
} from "../index.js";

/** Open invocations whose spans are kept; more end the oldest (a bound on memory). */
export const TRACED_INVOCATIONS_MAX = 10_000;
/** How long ended spans wait before they are exported in a batch. */
const EXPORT_DELAY_MS = 1_000;

export interface TracingOptions {
  /** The collector's OTLP/HTTP address (`http://collector:4318`), or its full `/v1/traces` URL. */
  readonly endpoint: string;
  readonly nodeName: string;
  /** Tests: export elsewhere than OTLP/HTTP. */
  readonly exporter?: SpanExporter;
}

/** An ingress request's span, until its answer is sent. */
export interface IngressSpan {
  /**
   * The request submits this invocation; returns the `traceparent` its spans go under (this
   * request's span), to be stored with it.
   */
  invocation(invocationId: string, target: string): string;
  end(statusCode: number): void;
}

interface OpenInvocation {
  readonly span: Span;
  readonly target: string;
  attempt: Span | undefined;
  attempts: number;
  /** Journal commands waiting for their completion, by completion id. */
  readonly waiting: Map<number, Span>;
  /** The last attempt suspended: the next one starts because a completion came. */
  suspended: boolean;
}

/** The traces URL of an OTLP/HTTP collector address. */
export function tracesUrl(endpoint: string): string {
  const trimmed = endpoint.replace(/\/+$/, "");
  return trimmed.endsWith("/v1/traces") ? trimmed : `${trimmed}/v1/traces`;
}

export class OpenTelemetryTracing implements InvocationTracing {
  private readonly provider: BasicTracerProvider;
  private readonly tracer: Tracer;
  private readonly propagator = new W3CTraceContextPropagator();
  /** By invocation id, oldest first. */
  private readonly open = new Map<string, OpenInvocation>();

  constructor(options: TracingOptions) {
    const exporter =
      options.exporter ?? new OTLPTraceExporter({ url: tracesUrl(options.endpoint) });
    this.provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ "service.name": "keel", "keel.node": options.nodeName }),
      spanProcessors: [new BatchSpanProcessor(exporter, { scheduledDelayMillis: EXPORT_DELAY_MS })],
    });
    this.tracer = this.provider.getTracer("keel");
  }

  /**
   * Notes an ingress request's arrival. Its span (under the caller's `traceparent`, if it sent one)
   * exists only if the request submits an invocation: health checks and refusals are not traced.
   */
  startIngressRequest(method: string, path: string, headers: IncomingHttpHeaders): IngressSpan {
    const arrivedAt = performance.now();
    let span: Span | undefined;
    return {
      invocation: (invocationId, target) => {
        const parent = this.propagator.extract(ROOT_CONTEXT, headers, defaultTextMapGetter);
        span = this.tracer.startSpan(
          `ingress ${target}`,
          {
            kind: SpanKind.SERVER,
            startTime: arrivedAt,
            attributes: {
              "http.request.method": method,
              "url.path": path,
              "restate.invocation.id": invocationId,
              "restate.invocation.target": target,
            },
          },
          parent,
        );
        // A request that attaches to an existing invocation (an idempotent retry) does not parent
        // it: the partition keeps the parent the invocation was created with.
        return this.traceparentOf(span);
      },
      end: (statusCode) => {
        if (span === undefined) return;
        span.setAttribute("http.response.status_code", statusCode);
        if (statusCode >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      },
    };
  }

  attemptStarted(attempt: AttemptTrace): Readonly<Record<string, string>> {
    const id = attempt.invocationId;
    let invocation = this.open.get(id);
    if (invocation === undefined) {
      const parent =
        attempt.parent === ""
          ? ROOT_CONTEXT
          : this.propagator.extract(
              ROOT_CONTEXT,
              { traceparent: attempt.parent },
              defaultTextMapGetter,
            );
      invocation = {
        span: this.tracer.startSpan(
          `invocation ${attempt.target}`,
          { kind: SpanKind.INTERNAL, attributes: this.attributesOf(attempt) },
          parent,
        ),
        target: attempt.target,
        attempt: undefined,
        attempts: 0,
        waiting: new Map(),
        suspended: false,
      };
      this.open.set(id, invocation);
      this.bound(this.open, (dropped) => {
        dropped.span.setAttribute("keel.trace.truncated", true);
        endInvocation(dropped);
      });
    }
    invocation.attempt?.end();
    // A suspended invocation resumes when a completion it awaited is applied, and that completion
    // reaches no attempt: its commands' spans end now.
    if (invocation.suspended) endWaiting(invocation, "keel.entry.ended_at_resume", true);
    invocation.suspended = false;
    invocation.attempts++;
    const span = this.tracer.startSpan(
      `attempt ${attempt.target}`,
      {
        kind: SpanKind.CLIENT,
        attributes: {
          ...this.attributesOf(attempt),
          "restate.invocation.attempt": invocation.attempts,
        },
      },
      trace.setSpan(ROOT_CONTEXT, invocation.span),
    );
    invocation.attempt = span;
    return { traceparent: this.traceparentOf(span) };
  }

  journalEntry(invocationId: string, command: string, completionId: number | undefined): void {
    const invocation = this.open.get(invocationId);
    const attempt = invocation?.attempt;
    if (invocation === undefined || attempt === undefined) return;
    const span = this.tracer.startSpan(
      command,
      {
        kind: SpanKind.INTERNAL,
        attributes: { "restate.invocation.id": invocationId, "restate.journal.command": command },
      },
      trace.setSpan(ROOT_CONTEXT, attempt),
    );
    // A command that waits (a sleep, a call, a run) lasts until its completion is applied.
    if (completionId === undefined) span.end();
    else invocation.waiting.set(completionId, span);
  }

  entryCompleted(invocationId: string, completionId: number): void {
    const waiting = this.open.get(invocationId)?.waiting;
    const span = waiting?.get(completionId);
    if (waiting === undefined || span === undefined) return;
    waiting.delete(completionId);
    span.end();
  }

  attemptFinished(invocationId: string, outcome: AttemptOutcomeKind): void {
    const invocation = this.open.get(invocationId);
    const attempt = invocation?.attempt;
    if (invocation === undefined || attempt === undefined) return;
    attempt.setAttribute("keel.attempt.outcome", outcome);
    invocation.suspended = outcome === "suspended";
    if (outcome === "failed") attempt.setStatus({ code: SpanStatusCode.ERROR });
    attempt.end();
    invocation.attempt = undefined;
  }

  invocationCompleted(invocationId: string, outcome: InvocationOutcome): void {
    const invocation = this.open.get(invocationId);
    if (invocation === undefined) return;
    this.open.delete(invocationId);
    invocation.span.setAttribute("restate.invocation.outcome", outcome);
    if (outcome === "failed") invocation.span.setStatus({ code: SpanStatusCode.ERROR });
    endInvocation(invocation);
  }

  /** Exports the spans that ended now, without waiting for the next batch. */
  async flush(): Promise<void> {
    await this.provider.forceFlush();
  }

  /** Exports what ended and stops; spans still open are not exported. */
  async close(): Promise<void> {
    await this.provider.shutdown();
  }

  private attributesOf(attempt: AttemptTrace): Record<string, string | number> {
    return {
      "restate.invocation.id": attempt.invocationId,
      "restate.invocation.target": attempt.target,
      "keel.partition": attempt.partition,
    };
  }

  /** The W3C `traceparent` that names `span` (sampled: every invocation is traced). */
  private traceparentOf(span: Span): string {
    const carrier: Record<string, string> = {};
    this.propagator.inject(trace.setSpan(ROOT_CONTEXT, span), carrier, defaultTextMapSetter);
    return carrier["traceparent"] ?? "";
  }

  private bound<V>(map: Map<string, V>, drop: (value: V) => void): void {
    while (map.size > TRACED_INVOCATIONS_MAX) {
      const [oldest, value] = map.entries().next().value as [string, V];
      map.delete(oldest);
      drop(value);
    }
  }
}

/** Ends an invocation's spans: commands whose completion never came (marked so), its attempt, itself. */
function endInvocation(invocation: OpenInvocation): void {
  endWaiting(invocation, "keel.entry.completed", false);
  invocation.attempt?.end();
  invocation.span.end();
}

/** Ends the spans of the commands still waiting, with an attribute that says why. */
function endWaiting(invocation: OpenInvocation, attribute: string, value: boolean): void {
  for (const span of invocation.waiting.values()) {
    span.setAttribute(attribute, value);
    span.end();
  }
  invocation.waiting.clear();
}
