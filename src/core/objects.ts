/**
 * Objects with optional properties under `exactOptionalPropertyTypes`: an optional property is either
 * absent or holds a value, never `undefined`. `presentFields` builds such a part from values that may
 * be undefined, in place of one `...(x === undefined ? {} : { x })` per field.
 */

/** The members of `fields` whose value is not undefined; the others are absent. */
export function presentFields<T extends Record<string, unknown>>(
  fields: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== undefined) out[key] = value;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}
