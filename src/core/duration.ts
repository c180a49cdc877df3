/**
 * Durations as users and Restate write them: "friendly" text (`500ms`, `1m`, `2h 30m`, `1d`, `60 sec`)
 * and ISO-8601 (`PT60S`, `P1D`). Values are milliseconds.
 */

const UNIT_MS: ReadonlyMap<string, number> = new Map([
  ["ms", 1],
  ["msec", 1],
  ["millis", 1],
  ["milliseconds", 1],
  ["millisecond", 1],
  ["s", 1000],
  ["sec", 1000],
  ["secs", 1000],
  ["second", 1000],
  ["seconds", 1000],
  ["m", 60_000],
  ["min", 60_000],
  ["mins", 60_000],
  ["minute", 60_000],
  ["minutes", 60_000],
  ["h", 3_600_000],
  ["hr", 3_600_000],
  ["hrs", 3_600_000],
  ["hour", 3_600_000],
  ["hours", 3_600_000],
  ["d", 86_400_000],
  ["day", 86_400_000],
  ["days", 86_400_000],
  ["w", 604_800_000],
  ["week", 604_800_000],
  ["weeks", 604_800_000],
]);

function parseFriendly(text: string): number | undefined {
  const parts = text.trim().match(/(\d+(?:\.\d+)?)\s*([a-zA-Z]+)/g);
  if (parts === null) return undefined;
  const joined = parts.join("").replace(/\s+/g, "");
  if (joined !== text.replace(/\s+/g, "")) return undefined;
  let total = 0;
  for (const part of parts) {
    const m = /(\d+(?:\.\d+)?)\s*([a-zA-Z]+)/.exec(part);
    if (m === null) return undefined;
    const unit = UNIT_MS.get(m[2]!.toLowerCase());
    if (unit === undefined) return undefined;
    total += Number(m[1]) * unit;
  }
  return Math.round(total);
}

function parseIso(text: string): number | undefined {
  const m =
    /^P(?:(\d+(?:\.\d+)?)W)?(?:(\d+(?:\.\d+)?)D)?(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i.exec(
      text.trim(),
    );
  if (m === null || text.trim().toUpperCase() === "P" || /T$/i.test(text.trim())) return undefined;
  const [, w, d, h, min, s] = m;
  const n = (v: string | undefined): number => (v === undefined ? 0 : Number(v));
  return Math.round(
    n(w) * 604_800_000 + n(d) * 86_400_000 + n(h) * 3_600_000 + n(min) * 60_000 + n(s) * 1000,
  );
}

/** Parses a friendly or ISO-8601 duration into milliseconds; undefined when it is neither. */
export function parseDuration(text: string): number | undefined {
  // A bare zero is the one number without a unit Restate takes.
  if (text === "0") return 0;
  if (text.trim() === "") return undefined;
  if (/^P/i.test(text.trim())) return parseIso(text);
  if (/^\d+$/.test(text.trim())) return undefined;
  return parseFriendly(text);
}

/** Renders milliseconds in Restate's friendly form: `1d`, `1m`, `500ms`, `1h 30m`, `0s`. */
export function formatDurationFriendly(ms: number): string {
  if (ms === 0) return "0s";
  const units: [string, number][] = [
    ["d", 86_400_000],
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
    ["ms", 1],
  ];
  const out: string[] = [];
  let rest = Math.round(ms);
  for (const [name, size] of units) {
    if (rest >= size) {
      out.push(`${Math.floor(rest / size)}${name}`);
      rest %= size;
    }
  }
  return out.join(" ");
}

/** ISO-8601 in seconds, as Restate's SQL renders durations: `PT86400S`. */
export function formatDurationIso(ms: number): string {
  const seconds = ms / 1000;
  return `PT${Number.isInteger(seconds) ? seconds : seconds.toFixed(3)}S`;
}
