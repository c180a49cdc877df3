/**
 * The service-endpoint port: the streams the invoker opens to service endpoints (one per attempt).
 * Production: HTTP/2 and HTTP/1.1 clients on a worker thread (io/); tests: a fake endpoint.
 */

/** An open invocation stream to a service endpoint (one attempt). */
export interface EndpointStream {
  /**
   * Queues request bytes. The stream owns `bytes` from here on (a transport may move the buffer to
   * another thread): pass a buffer nothing else uses.
   */
  write(bytes: Uint8Array): void;
  /** Closes the request side; the response may go on. */
  end(): void;
  /** Tears the stream down in both directions. */
  abort(): void;
}

export interface EndpointStreamHandlers {
  onResponse(status: number, headers: Record<string, string | string[] | undefined>): void;
  onData(chunk: Uint8Array): void;
  onEnd(): void;
  onError(error: Error): void;
}

export interface EndpointRequest {
  readonly uri: string;
  readonly useHttp11: boolean;
  /** Request/response deployments get the whole request body before they answer. */
  readonly requestResponse: boolean;
  readonly path: string;
  readonly headers: Record<string, string>;
  /** The object's or workflow's key: the subject of the request's identity token, if signed. */
  readonly identitySubject?: string;
}

export interface EndpointTransport {
  open(request: EndpointRequest, handlers: EndpointStreamHandlers): EndpointStream;
  close(): Promise<void>;
}
