// The Argo CD health script (gitops/argocd/health.lua), run by the real Lua interpreter on
// every case of gitops/argocd/health_test.yaml, the way Argo CD runs it: a global `obj`
// holding the live object, and the table the script returns.
//   mocha --timeout 60000 test/integration/argocd-health.test.ts
// Lua comes from $LUA_BIN, else lua5.4 or lua on PATH (Debian: apt-get install lua5.4).
import { spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { expect } from "chai";
import { parse } from "yaml";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const ARGOCD = join(ROOT, "gitops", "argocd");
const SCRIPT = join(ARGOCD, "health.lua");

interface HealthStatus {
  status: string;
  message: string;
}
interface HealthCase {
  healthStatus: HealthStatus;
  inputPath: string;
}

function findLua(): string {
  const candidates = [
    process.env.LUA_BIN,
    ...(process.env.PATH ?? "")
      .split(delimiter)
      .flatMap((dir) => (dir ? [join(dir, "lua5.4"), join(dir, "lua")] : [])),
    "/usr/bin/lua5.4",
  ];
  for (const candidate of candidates) {
    if (!candidate) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next
    }
  }
  throw new Error("no Lua interpreter: install it (Debian: apt-get install lua5.4) or set LUA_BIN");
}

/** A Lua string literal; every byte outside printable ASCII as a decimal escape (Lua 5.1 and 5.4). */
function luaString(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, "utf8")) {
    const printable = byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c;
    out += printable ? String.fromCharCode(byte) : `\\${byte.toString().padStart(3, "0")}`;
  }
  return out + '"';
}

/** The Lua table Argo CD would hand the script for this JSON value. */
function toLua(value: unknown): string {
  if (value === null || value === undefined) return "nil";
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new Error(`cannot express ${value} in a Lua literal`);
    return String(value);
  }
  if (typeof value === "string") return luaString(value);
  if (Array.isArray(value)) return `{${value.map(toLua).join(", ")}}`;
  if (typeof value === "object") {
    const fields = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `[${luaString(k)}] = ${toLua(v)}`,
    );
    return `{${fields.join(", ")}}`;
  }
  throw new Error(`cannot express a ${typeof value} in a Lua literal`);
}

describe("Argo CD health script (real Lua)", function () {
  this.timeout(60000);
  let lua: string;
  let work: string;

  before(() => {
    lua = findLua();
    work = mkdtempSync(join(tmpdir(), "mro-argocd-health-"));
  });
  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  /** Runs health.lua with `obj` set to the object, as Argo CD does; returns what it returned. */
  function assessHealth(obj: unknown): HealthStatus {
    const harness = join(work, "harness.lua");
    writeFileSync(
      harness,
      [
        `obj = ${toLua(obj)}`,
        `local hs = dofile(${luaString(SCRIPT)})`,
        `io.write(tostring(hs.status), "\\n", tostring(hs.message))`,
      ].join("\n"),
    );
    const result = spawnSync(lua, [harness], { encoding: "utf8", timeout: 10000 });
    if (result.error) throw result.error;
    expect(result.status, `lua failed: ${result.stderr}`).to.equal(0);
    const newline = result.stdout.indexOf("\n");
    return { status: result.stdout.slice(0, newline), message: result.stdout.slice(newline + 1) };
  }

  const cases = (parse(readFileSync(join(ARGOCD, "health_test.yaml"), "utf8")) as { tests: HealthCase[] })
    .tests;

  for (const { healthStatus, inputPath } of cases) {
    it(`${inputPath}: ${healthStatus.status}`, () => {
      const obj = parse(readFileSync(join(ARGOCD, inputPath), "utf8")) as unknown;
      expect(assessHealth(obj)).to.deep.equal(healthStatus);
    });
  }

  it("covers every object in testdata/", () => {
    const used = cases.map((c) => c.inputPath).sort();
    const present = readdirSync(join(ARGOCD, "testdata"))
      .map((file) => `testdata/${file}`)
      .sort();
    expect(used).to.deep.equal(present);
  });

  it("reads Stalled before Ready, and names the condition's reason when it has no message", () => {
    const obj = {
      metadata: { generation: 2 },
      status: {
        observedGeneration: 2,
        conditions: [
          { type: "Ready", status: "True", reason: "Ready", message: "" },
          { type: "Stalled", status: "True", reason: "InvalidSpec", message: "" },
        ],
      },
    };
    expect(assessHealth(obj)).to.deep.equal({ status: "Degraded", message: "InvalidSpec" });
  });

  it("is Progressing, not Healthy, while a status has no conditions yet", () => {
    const obj = { metadata: { generation: 1 }, status: { observedGeneration: 1 } };
    expect(assessHealth(obj)).to.deep.equal({
      status: "Progressing",
      message: "Waiting for the ModelDeployment to become Ready",
    });
  });

  it("passes messages through byte for byte (quotes, backslashes, UTF-8)", () => {
    const message = 'check "p99 latency" \\ 250 ms ≥ 200 ms';
    const obj = {
      metadata: { generation: 1 },
      status: {
        observedGeneration: 1,
        conditions: [{ type: "Stalled", status: "True", reason: "HealthCheckFailed", message }],
      },
    };
    expect(assessHealth(obj)).to.deep.equal({ status: "Degraded", message: `HealthCheckFailed: ${message}` });
  });
});
