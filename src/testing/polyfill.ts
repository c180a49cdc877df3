/**
 * Node 20 lacks Promise.withResolvers, which the official SDK 1.17 uses. The test kit serves the
 * users' services with the SDK inside their test process, so it installs this before the SDK loads;
 * Keel's own test fixtures import it too. Keel's own code never relies on it.
 */

interface WithResolvers {
  withResolvers?: <T>() => {
    promise: Promise<T>;
    resolve: (v: T) => void;
    reject: (e: unknown) => void;
  };
}

const P = Promise as unknown as WithResolvers;
if (P.withResolvers === undefined) {
  P.withResolvers = <T>() => {
    let resolve!: (v: T) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<T>((a, b) => {
      resolve = a;
      reject = b;
    });
    return { promise, resolve, reject };
  };
}

export {};
