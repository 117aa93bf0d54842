// The agreement check against two local model servers (the stable and the new version):
// the request set read from a ConfigMap, each request sent to both, the share that agrees
// judged by the CEL condition, the first disagreement in the measurement; a set that cannot
// be read, or a stable version that does not answer, is an Error.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import type { AgreementCheck } from "../../src/api/types.ts";
import { measureCheck } from "../../src/health/index.ts";
import type { ConfigMapReader } from "../../src/health/agreement-check.ts";
import { KubeApiError } from "../../src/kube/client.ts";
import type { DueCheck } from "../../src/plan/types.ts";

type Answer = [status: number, body: string];

/** A model server whose answer to each request the test decides. */
async function serve(
  answer: (body: { id?: string; inputs?: { data: number[] }[] }) => Answer | Promise<Answer>,
) {
  const received: string[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      received.push(text);
      void Promise.resolve(answer(JSON.parse(text) as never)).then(([status, body]) =>
        res.writeHead(status, { "content-type": "application/json" }).end(body),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/models/fraud/infer`;
  return { server, url, received };
}

const label = (x: number) => (x % 2 === 0 ? "legit" : "fraud");
const oipAnswer = (labelText: string, score: number | string) =>
  JSON.stringify({
    outputs: [
      { name: "label", datatype: "BYTES", shape: [1], data: [labelText] },
      { name: "score", datatype: "FP32", shape: [1], data: [score] },
    ],
  }).replace('"NaN"', "NaN");

const requests = (n: number) =>
  Array.from({ length: n }, (_, i) => ({
    id: `r${i}`,
    inputs: [{ name: "features", shape: [1, 1], datatype: "FP32", data: [i] }],
  }));

describe("agreement checks", () => {
  const servers: Server[] = [];
  after(() =>
    Promise.all(
      servers.map((s) => {
        s.closeAllConnections();
        return new Promise<void>((r) => s.close(() => r()));
      }),
    ),
  );

  let stableUrl: string;
  let stableReceived: string[];
  let candidateUrl: string;
  /** How the new version answers request x (its first input's first value). */
  let candidate: (x: number) => Answer | Promise<Answer>;

  before(async () => {
    const s = await serve((b) => {
      const x = b.inputs?.[0]?.data[0] ?? 0;
      return [200, oipAnswer(label(x), x === 7 ? "NaN" : x / 10)];
    });
    const c = await serve((b) => candidate(b.inputs?.[0]?.data[0] ?? 0));
    servers.push(s.server, c.server);
    stableUrl = s.url;
    stableReceived = s.received;
    candidateUrl = c.url;
  });
  beforeEach(() => {
    stableReceived.length = 0;
    candidate = (x) => [200, oipAnswer(label(x), x === 7 ? "NaN" : (x / 10) * (1 + 1e-6))];
  });

  const configMaps =
    (data: Record<string, string> | undefined): ConfigMapReader =>
    async (namespace, name) => {
      expect({ namespace, name }).to.deep.equal({ namespace: "models", name: "fraud-requests" });
      return data === undefined ? undefined : { data };
    };
  const due = (agreement: Partial<AgreementCheck> = {}, timeoutMs = 5000): DueCheck => ({
    check: {
      name: "agreement",
      agreement: {
        requests: { configMapKeyRef: { name: "fraud-requests", key: "requests.json" } },
        successCondition: "agreement >= 0.98",
        ...agreement,
      },
    },
    vars: { name: "fraud", namespace: "models", version: "2.0.0", service: "fraud-2-0-0" },
    url: candidateUrl,
    stable: {
      vars: { name: "fraud", namespace: "models", version: "1.0.0", service: "fraud-1-0-0" },
      url: stableUrl,
    },
    timeoutMs,
  });
  const now = () => new Date("2030-01-02T03:04:05Z");
  const measure = (d: DueCheck, data: Record<string, string> | undefined) =>
    measureCheck(d, now, { configMaps: configMaps(data) });
  const set = (n: number) => ({ "requests.json": JSON.stringify(requests(n)) });

  it("passes when every answer agrees: labels equal, scores within tolerance, NaN with NaN", async () => {
    const m = await measure(due(), set(20));
    expect(m).to.deep.include({
      phase: "Successful",
      value: "1",
      agreement: { requests: 20, compared: 20, agreed: 20, agreement: 1 },
      message: "20 of 20 requests agree",
    });
    expect(stableReceived.map((b) => JSON.parse(b) as unknown)).to.have.deep.members(requests(20));
  });

  it("fails a new version that flips 10% of its labels, naming the first disagreeing request", async () => {
    candidate = (x) => [200, oipAnswer(x % 10 === 3 ? label(x + 1) : label(x), x === 7 ? "NaN" : x / 10)];
    const m = await measure(due(), set(20));
    expect(m.phase).to.equal("Failed");
    expect(m.value).to.equal("0.9");
    expect(m.message).to.equal(
      'successCondition `agreement >= 0.98` was false for agreement 0.9 (18 of 20 requests agree); first disagreement: request 3 (id "r3"): output label [0]: "fraud" in the stable version, "legit" in the new one',
    );
    const a = m.agreement!;
    expect(a).to.deep.include({ requests: 20, compared: 20, agreed: 18, agreement: 0.9 });
    expect(a.firstDisagreement).to.deep.include({
      index: 3,
      id: "r3",
      reason: 'output label [0]: "fraud" in the stable version, "legit" in the new one',
      request: JSON.stringify(requests(20)[3]),
    });
    expect(a.firstDisagreement?.stableAnswer).to.contain('"fraud"');
    expect(a.firstDisagreement?.candidateAnswer).to.contain('"legit"');
    // The same disagreement passes a looser condition.
    expect((await measure(due({ successCondition: "agreed >= compared - 2" }), set(20))).phase).to.equal(
      "Successful",
    );
  });

  it("counts a new version's failed answer as a disagreement, and a score beyond tolerance", async () => {
    candidate = (x) =>
      x === 0 ? [500, '{"error": "boom"}'] : [200, oipAnswer(label(x), x === 7 ? "NaN" : x / 10 + 0.01)];
    const m = await measure(due({ tolerance: { absolute: 0.02, relative: 0 } }), set(4));
    expect(m.agreement).to.deep.include({ compared: 4, agreed: 3 });
    expect(m.agreement?.firstDisagreement?.reason).to.match(
      /^the new version: POST .* answered 500, expected 200$/,
    );
    const strict = await measure(due(), set(4));
    expect(strict.agreement).to.deep.include({ agreed: 0 });
  });

  it("cuts what status keeps of a request and its answers to 256 characters", async () => {
    candidate = () => [
      200,
      JSON.stringify({
        outputs: [{ name: "label", datatype: "BYTES", shape: [1], data: ["x".repeat(1000)] }],
      }),
    ];
    const big = [
      {
        id: "big",
        inputs: [{ name: "features", shape: [1, 1], datatype: "FP32", data: [1] }],
        parameters: { pad: "p".repeat(1000) },
      },
    ];
    const m = await measure(due(), { "requests.json": JSON.stringify(big) });
    const first = m.agreement!.firstDisagreement!;
    for (const text of [first.request, first.candidateAnswer, first.reason])
      expect(text!.length, text).to.be.at.most(256);
  });

  it("is an Error, naming the ConfigMap, when the set is missing, has no such key, is not JSON, or is empty; nothing is sent", async () => {
    const cases: [Record<string, string> | undefined, string][] = [
      [
        undefined,
        "the request set (ConfigMap fraud-requests, key requests.json): there is no ConfigMap fraud-requests in namespace models",
      ],
      [
        { other: "[]" },
        "the request set (ConfigMap fraud-requests, key requests.json): ConfigMap fraud-requests has no key requests.json (its keys: other)",
      ],
      [{ "requests.json": "[{" }, ""],
      [
        { "requests.json": "[]" },
        "the request set (ConfigMap fraud-requests, key requests.json) is an empty list: there is nothing to compare",
      ],
    ];
    for (const [data, message] of cases) {
      const m = await measure(due(), data);
      expect(m.phase).to.equal("Error");
      if (message) expect(m.message).to.equal(message);
      else
        expect(m.message).to.match(
          /^the request set \(ConfigMap fraud-requests, key requests.json\) is not JSON/,
        );
    }
    expect(stableReceived).to.deep.equal([]);
  });

  it("is an Error that names the missing permission when the API server refuses the read", async () => {
    const m = await measureCheck(due(), now, {
      configMaps: () => Promise.reject(new KubeApiError(403, "configmaps is forbidden", "Forbidden")),
    });
    expect(m).to.deep.include({
      phase: "Error",
      message:
        "the request set (ConfigMap fraud-requests, key requests.json) cannot be read: the operator may not get ConfigMaps in namespace models (its RBAC needs get on configmaps)",
    });
  });

  it("is an Error when the stable version's answer cannot be compared, or without a stable version", async () => {
    const noStable = { ...due(), stable: undefined };
    expect((await measure(noStable, set(2))).message).to.equal(
      "there is no stable version to compare with (an agreement check needs one)",
    );
    const m = await measure(due({ outputs: ["probability"] }), set(2));
    expect(m.phase).to.equal("Error");
    expect(m.message).to.equal(
      'the stable version 1.0.0\'s answer to request 0 (id "r0") cannot be compared: its answer has no output probability (outputs)',
    );
  });

  it("is an Error when the timeout passes before both versions answered every request", async () => {
    // A slow model: each answer takes 30 ms; 40 requests, 4 at a time, take about 300 ms.
    candidate = (x) =>
      new Promise((resolve) => setTimeout(() => resolve([200, oipAnswer(label(x), x / 10)]), 30));
    const m = await measure(due({}, 100), set(40));
    expect(m.phase).to.equal("Error");
    expect(m.message).to.match(
      /^\d+ of 40 requests were answered by both versions within the check's timeout of 100ms: give the check a longer timeout, or send fewer requests$/,
    );
  });

  it("compares plain JSON answers at answerPath", async () => {
    const json = due({ protocol: "JSON", path: "/predict", answerPath: "/predictions" });
    candidate = (x) => [200, oipAnswer(label(x), x / 10)];
    // Both servers answer OIP-shaped JSON; /predictions is in neither: the stable one cannot be compared.
    const m = await measure(json, { "requests.json": JSON.stringify([{ inputs: [{ data: [1] }] }]) });
    expect(m.message).to.equal(
      "the stable version 1.0.0's answer to request 0 cannot be compared: its answer has nothing at /predictions (answerPath)",
    );
    const whole = await measure(due({ protocol: "JSON", path: "/predict" }), {
      "requests.json": JSON.stringify([{ inputs: [{ data: [2] }] }]),
    });
    expect(whole.agreement).to.deep.include({ compared: 1, agreed: 1 });
  });
});
