// Counting the operator's requests on the API server's side: its audit log (JSON lines)
// records every write, and, with the control plane's `auditReads` option, every get,
// list and watch of the admin user the operator runs as. A request is one auditID (a
// watch is logged twice: when its response starts and when it ends).
import { closeSync, existsSync, openSync, readSync, statSync } from "node:fs";
import { percentile } from "./wait.ts";

export const OPERATOR_USER_AGENT_PREFIX = "model-rollout-operator/";
const READ_VERBS = new Set(["get", "list", "watch"]);

export interface AuditRequest {
  auditID: string;
  verb: string;
  /** "deployments", "modeldeployments/status", "events", ... */
  resource: string;
  /** ms since the epoch, when the API server received it. */
  at: number;
  /** ms from receiving it to the response (the stage logged last: ResponseComplete). */
  latencyMs: number;
}

export interface RequestCount {
  total: number;
  reads: number;
  writes: number;
  /** Lists and watches: the informers' own, one per kind (a relist, a watch reopened), not per object. */
  listWatch: number;
  /** "verb resource" -> count, e.g. "patch deployments": 100. */
  byVerbResource: Record<string, number>;
  /** How long the API server took to answer the writes (received to response), ms; absent without writes. */
  writeLatencyMs?: { p50: number; p90: number; p99: number };
}

interface AuditLine {
  auditID?: string;
  verb?: string;
  userAgent?: string;
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
  objectRef?: { resource?: string; subresource?: string };
}

/** Follows an audit log and keeps the operator's requests. */
export class AuditLog {
  readonly #file: string;
  #offset = 0;
  #rest = "";
  readonly #requests = new Map<string, AuditRequest>();

  constructor(file: string) {
    this.#file = file;
  }

  /** Reads what was appended since the last call. */
  poll(): void {
    if (!existsSync(this.#file)) return;
    const size = statSync(this.#file).size;
    if (size < this.#offset) {
      // Rotated (--audit-log-maxsize): start over on the new file.
      this.#offset = 0;
      this.#rest = "";
    }
    if (size === this.#offset) return;
    const fd = openSync(this.#file, "r");
    try {
      const buf = Buffer.alloc(size - this.#offset);
      const n = readSync(fd, buf, 0, buf.length, this.#offset);
      this.#offset += n;
      const text = this.#rest + buf.subarray(0, n).toString("utf8");
      const lines = text.split("\n");
      this.#rest = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.includes(OPERATOR_USER_AGENT_PREFIX)) continue;
        const e = JSON.parse(line) as AuditLine;
        if (!e.userAgent?.startsWith(OPERATOR_USER_AGENT_PREFIX) || !e.auditID) continue;
        const at = Date.parse(e.requestReceivedTimestamp ?? "") || 0;
        // Microseconds: Date.parse keeps milliseconds.
        const latencyMs = Math.max(0, (Date.parse(e.stageTimestamp ?? "") || at) - at);
        if (this.#requests.has(e.auditID)) continue;
        const resource = e.objectRef?.resource ?? "?";
        this.#requests.set(e.auditID, {
          auditID: e.auditID,
          verb: e.verb ?? "?",
          resource: e.objectRef?.subresource ? `${resource}/${e.objectRef.subresource}` : resource,
          at,
          latencyMs,
        });
      }
    } finally {
      closeSync(fd);
    }
  }

  /** The operator's requests received in [from, to) (ms since the epoch). */
  requests(from: number, to = Infinity): AuditRequest[] {
    this.poll();
    return [...this.#requests.values()].filter((r) => r.at >= from && r.at < to);
  }

  count(from: number, to = Infinity): RequestCount {
    const out: RequestCount = {
      total: 0,
      reads: 0,
      writes: 0,
      listWatch: 0,
      byVerbResource: {},
    };
    const writeLatencies: number[] = [];
    for (const r of this.requests(from, to)) {
      out.total++;
      if (r.verb === "list" || r.verb === "watch") out.listWatch++;
      if (READ_VERBS.has(r.verb)) out.reads++;
      else {
        out.writes++;
        writeLatencies.push(r.latencyMs);
      }
      const k = `${r.verb} ${r.resource}`;
      out.byVerbResource[k] = (out.byVerbResource[k] ?? 0) + 1;
    }
    if (writeLatencies.length > 0)
      out.writeLatencyMs = {
        p50: percentile(writeLatencies, 50),
        p90: percentile(writeLatencies, 90),
        p99: percentile(writeLatencies, 99),
      };
    return out;
  }

  /** Time (ms since the epoch) of the operator's last write, or 0. */
  lastWriteAt(): number {
    this.poll();
    let last = 0;
    for (const r of this.#requests.values()) if (!READ_VERBS.has(r.verb) && r.at > last) last = r.at;
    return last;
  }
}
