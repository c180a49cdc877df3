// Child processes of a benchmark: spawned with their output kept (the last 200 chunks), tracked so
// that a failing run can kill them all, stopped by PID with a deadline.
import { spawn } from "node:child_process";

const children = new Set();

/** Spawns `node args…`; returns { child, output, name }. */
export function startChild(name, args, env = {}) {
  const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  const output = [];
  const keep = (chunk) => {
    output.push(chunk.toString());
    if (output.length > 200) output.splice(0, output.length - 200);
  };
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  children.add(child);
  child.on("exit", () => children.delete(child));
  return { child, output, name };
}

/** Stops a child with `signal` (SIGKILL after 20 s) and waits for its exit. */
export async function stopChild(proc, signal = "SIGTERM") {
  const { child } = proc;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  await exited;
  clearTimeout(timer);
}

/** SIGKILL to every child still running (a failed run's cleanup). */
export function killChildren() {
  for (const child of children) child.kill("SIGKILL");
}

/** Polls `probe` every `everyMs` until it is truthy; returns the time it was; throws past `deadline`. */
export async function until(what, probe, deadline, everyMs = 10) {
  for (;;) {
    if (await probe().catch(() => false)) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
