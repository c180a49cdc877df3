/**
 * Reads and writes the state of one virtual object or workflow key through the admin API, as
 * `@restatedev/restate-sdk-testcontainers`' StateProxy does (SQL over `POST /query` with an Arrow
 * answer to read, `POST /services/{service}/state` to write), with the same methods and types, so a
 * test moves between the two unchanged.
 */

import {
  serde as sdkSerde,
  type Serde,
  type TypedState,
  type UntypedState,
} from "@restatedev/restate-sdk";

type ValueOf<
  TState extends TypedState,
  TValue,
  TKey extends keyof TState,
> = TState extends UntypedState ? TValue : TState[TKey];

export class StateProxy<TState extends TypedState> {
  constructor(
    private readonly adminUrl: string,
    private readonly service: string,
    private readonly key: string,
  ) {}

  /** One value, or null when the key has no such entry. */
  async get<TValue, TKey extends keyof TState = string>(
    name: TState extends UntypedState ? string : TKey,
    serde?: Serde<ValueOf<TState, TValue, TKey>>,
  ): Promise<ValueOf<TState, TValue, TKey> | null> {
    const codec = serde ?? defaultSerde<ValueOf<TState, TValue, TKey>>();
    const rows = await this.query(
      `SELECT key, value FROM state WHERE service_name = ${sqlText(this.service)} ` +
        `AND service_key = ${sqlText(this.key)} AND key = ${sqlText(String(name))}`,
    );
    const row = rows[0];
    return row === undefined ? null : codec.deserialize(row.value);
  }

  /** Every entry of the key, decoded with `serde` (JSON by default). */
  async getAll<TValues extends TypedState>(
    serde?: Serde<TState extends UntypedState ? TValues[keyof TValues] : TState[keyof TState]>,
  ): Promise<TState extends UntypedState ? TValues : TState> {
    const codec = serde ?? defaultSerde();
    const rows = await this.rawEntries();
    return Object.fromEntries(
      rows.map(({ key, value }) => [key, codec.deserialize(value)]),
    ) as TState extends UntypedState ? TValues : TState;
  }

  /**
   * Sets one entry, keeping the others: reads every entry, then replaces them all, so a change made
   * between the two is overwritten (as in the testcontainers kit). The change is queued behind the
   * invocation holding the key, if any.
   */
  async set<TValue, TKey extends keyof TState = string>(
    name: TState extends UntypedState ? string : TKey,
    value: ValueOf<TState, TValue, TKey>,
    serde?: Serde<ValueOf<TState, TValue, TKey>>,
  ): Promise<void> {
    const codec = serde ?? defaultSerde<ValueOf<TState, TValue, TKey>>();
    const entries = (await this.rawEntries()).filter((e) => e.key !== String(name));
    entries.push({ key: String(name), value: codec.serialize(value) });
    await this.replace(entries);
  }

  /** Replaces every entry of the key with `values`. */
  async setAll<TValues extends TypedState>(
    values: TState extends UntypedState ? TValues : TState,
    serde?: Serde<TState extends UntypedState ? TValues[keyof TValues] : TState[keyof TState]>,
  ): Promise<void> {
    const codec = serde ?? defaultSerde();
    await this.replace(
      Object.entries(values).map(([key, value]) => ({
        key,
        value: codec.serialize(value as Parameters<typeof codec.serialize>[0]),
      })),
    );
  }

  private rawEntries(): Promise<{ key: string; value: Uint8Array }[]> {
    return this.query(
      `SELECT key, value FROM state WHERE service_name = ${sqlText(this.service)} ` +
        `AND service_key = ${sqlText(this.key)}`,
    );
  }

  private async query(sql: string): Promise<{ key: string; value: Uint8Array }[]> {
    const res = await fetch(`${this.adminUrl}/query`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: sql }),
    });
    if (!res.ok) throw new Error(`reading state failed: ${res.status} ${await res.text()}`);
    // Arrow loads with the first read, as the node's SQL engine does: a test that never reads state
    // does not pay for it at start-up.
    const { tableFromIPC } = await import("apache-arrow");
    const table = tableFromIPC(new Uint8Array(await res.arrayBuffer()));
    return table.toArray().map((row: { key: string; value: Uint8Array }) => ({
      key: String(row.key),
      value: row.value,
    }));
  }

  private async replace(entries: { key: string; value: Uint8Array }[]): Promise<void> {
    const res = await fetch(`${this.adminUrl}/services/${encodeURIComponent(this.service)}/state`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        object_key: this.key,
        new_state: Object.fromEntries(entries.map((e) => [e.key, Array.from(e.value)])),
      }),
    });
    if (!res.ok) throw new Error(`writing state failed: ${res.status} ${await res.text()}`);
  }
}

function defaultSerde<T>(): Serde<T> {
  return sdkSerde.json as Serde<T>;
}

/** A SQL string literal. */
function sqlText(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
