// Notifications: the transitions read off a rollout's statuses and their stable ids, the
// outbox in status, the payload of each format (CloudEvents checked with the CloudEvents
// SDK), the destinations file, and the notifier against a real HTTP server on 127.0.0.1.
import { expect } from "chai";
import { HTTP, type CloudEvent } from "cloudevents";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { ModelDeployment, ModelDeploymentStatus } from "../../src/api/types.ts";
import { DestinationPolicyJudge } from "../../src/health/destination-policy.ts";
import { checkFetch } from "../../src/health/dial.ts";
import { DestinationRegistry, parseDestinations } from "../../src/notify/destinations.ts";
import { Notifier, type DeliveryResult } from "../../src/notify/notifier.ts";
import {
  buildRequest,
  cloudEventSource,
  MAX_PAYLOAD_BYTES,
  slackMessage,
  notificationData,
  type NotificationSubject,
} from "../../src/notify/payloads.ts";
import {
  computeTransitions,
  OUTBOX_LIMIT,
  planOutbox,
  subscribersOf,
  type PendingNotification,
  type Transition,
} from "../../src/plan/notifications.ts";
import { httpCheck, makeMd, measured, Sim, stableSim } from "./plan-fixtures.ts";

const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;

/** One reconcile of the simulation, with the transitions between the status before and after. */
function step(sim: Sim, measure?: Parameters<Sim["reconcile"]>[0]): Transition[] {
  const before = clone(sim.md.status);
  const md = clone(sim.md);
  const p = sim.reconcile(measure);
  return computeTransitions(md, before, p.status, sim.now.toISOString());
}

/** Reconciles (settling the Deployments) until `n` reconciles passed, collecting transitions. */
function run(sim: Sim, n: number, measure?: Parameters<Sim["reconcile"]>[0]): Transition[] {
  const out: Transition[] = [];
  for (let i = 0; i < n; i++) {
    out.push(...step(sim, measure));
    sim.settle();
    sim.advance(1000);
  }
  return out;
}

const events = (ts: Transition[]) => ts.map((t) => t.event + (t.step !== undefined ? `@${t.step}` : ""));

const SUBJECT: NotificationSubject = { namespace: "models", name: "fraud-detector", uid: "uid-1" };

const sample = (extra: Partial<PendingNotification> = {}): PendingNotification => ({
  id: "0123456789abcdef0123456789abcdef",
  event: "RolledBack",
  time: "2026-03-01T10:00:00.000Z",
  version: "2.0.0",
  revision: "abc123",
  stableVersion: "1.0.0",
  reason: "HealthCheckFailed",
  message: "health check error-rate failed 3 times in a row",
  check: { name: "error-rate", value: "0.07" },
  destinations: ["team"],
  ...extra,
});

describe("notifications: transitions read off the status", () => {
  it("a canary: started, each step, the wait for a promote, promoted; nothing more at rest", () => {
    const sim = stableSim({
      strategy: { canary: { steps: [{ setWeight: 20 }, { pause: {} }, { setWeight: 50 }] } },
    });
    sim.setVersion("2.0.0");
    const first = run(sim, 6);
    expect(events(first)).to.deep.equal([
      "RolloutStarted",
      "StepStarted@0",
      "StepStarted@1",
      "AwaitingPromotion@1",
    ]);
    const started = first[0]!;
    expect(started).to.include({ version: "2.0.0", stableVersion: "1.0.0", steps: 3 });
    expect(first[1]).to.include({ weight: 20 });
    sim.annotate("promote");
    const rest = run(sim, 8);
    expect(events(rest)).to.deep.equal(["StepStarted@2", "Promoted"]);
    expect(rest[1]).to.include({ version: "2.0.0", stableVersion: "2.0.0" });
    expect(run(sim, 3)).to.deep.equal([]);
  });

  it("a rollback names the failed check and its last value", () => {
    const sim = stableSim({
      healthChecks: { interval: "1s", failureThreshold: 2, checks: [httpCheck("ready")] },
    });
    sim.setVersion("2.0.0");
    const ts = run(sim, 10, measured("Failed", "503"));
    const rb = ts.find((t) => t.event === "RolledBack");
    expect(rb, JSON.stringify(ts)).to.not.equal(undefined);
    expect(rb).to.deep.include({
      version: "2.0.0",
      reason: "HealthCheckFailed",
      check: { name: "ready", value: "503" },
    });
    expect(events(ts)).to.include("Stalled");
  });

  it("an abort action gives Aborted; a blue/green preview without autoPromotionSeconds waits for a promote", () => {
    const sim = stableSim({ strategy: { blueGreen: {} } });
    sim.setVersion("2.0.0");
    const ts = run(sim, 5);
    expect(events(ts)).to.deep.equal(["RolloutStarted", "AwaitingPromotion"]);
    sim.annotate("abort");
    expect(events(run(sim, 3))).to.deep.equal(["Aborted", "Stalled"]);
  });

  it("ids are stable: the same for the same status facts (a restart re-reads them), different per uid, rollout and step", () => {
    const md = makeMd({ strategy: { canary: { steps: [{ setWeight: 20 }, { setWeight: 50 }] } } });
    const prev: ModelDeploymentStatus = { stableVersion: "1.0.0" };
    const next: ModelDeploymentStatus = {
      stableVersion: "1.0.0",
      currentStep: 0,
      rollout: { version: "2.0.0", revision: "r2", startedAt: "2026-03-01T10:00:00.000Z" },
    };
    const a = computeTransitions(md, prev, next, "2026-03-01T10:00:00.000Z");
    // Another process, another clock: the ids come from status, not from the time of the reconcile.
    const b = computeTransitions(clone(md), clone(prev), clone(next), "2026-03-01T11:11:11.000Z");
    expect(a.map((t) => t.id)).to.deep.equal(b.map((t) => t.id));
    expect(new Set(a.map((t) => t.id)).size).to.equal(a.length);
    const other = computeTransitions({ ...md, metadata: { ...md.metadata, uid: "uid-2" } }, prev, next, "x");
    expect(other[0]!.id).to.not.equal(a[0]!.id);
    // A retry of the same revision starts a new rollout (a new startedAt): new ids.
    const retry = computeTransitions(
      md,
      prev,
      { ...next, rollout: { ...next.rollout!, startedAt: "2026-03-01T10:05:00.000Z" } },
      "x",
    );
    expect(retry[0]!.id).to.not.equal(a[0]!.id);
    const step1 = computeTransitions(md, next, { ...next, currentStep: 1 }, "x");
    expect(events(step1)).to.deep.equal(["StepStarted@1"]);
    expect(step1[0]!.id).to.not.equal(a[1]!.id);
    expect(a[0]!.id).to.match(/^[0-9a-f]{32}$/);
  });
});

describe("notifications: the outbox in status", () => {
  const t = (id: string, event = "Promoted"): Transition => ({
    id,
    event: event as Transition["event"],
    time: "t",
  });
  const md = makeMd({
    notifications: [{ destination: "all" }, { destination: "bad-news", events: ["RolledBack", "Stalled"] }],
  });
  const subs = subscribersOf(md, () => true);

  it("addresses each transition to its subscribers, once, and removes what is settled", () => {
    let o = planOutbox(undefined, [t("a"), t("b", "RolledBack")], subs, []);
    expect(o.pending.map((p) => [p.id, p.destinations])).to.deep.equal([
      ["a", ["all"]],
      ["b", ["all", "bad-news"]],
    ]);
    // The same transition decided again (a status write that failed): not added twice.
    o = planOutbox(o.pending, [t("b", "RolledBack")], subs, [{ id: "b", destination: "all" }]);
    expect(o.pending.map((p) => [p.id, p.destinations])).to.deep.equal([
      ["a", ["all"]],
      ["b", ["bad-news"]],
    ]);
    o = planOutbox(o.pending, [], subs, [
      { id: "a", destination: "all" },
      { id: "b", destination: "bad-news" },
    ]);
    expect(o.pending).to.deep.equal([]);
  });

  it("a destination the platform does not allow gets nothing; a full outbox pushes out the oldest", () => {
    const onlyAll = subscribersOf(md, (d) => d === "all");
    expect(planOutbox([], [t("x", "Stalled")], onlyAll, []).pending[0]!.destinations).to.deep.equal(["all"]);
    const many = Array.from({ length: OUTBOX_LIMIT + 3 }, (_, i) => t(`n${i}`));
    const o = planOutbox([], many, subs, []);
    expect(o.pending).to.have.length(OUTBOX_LIMIT);
    expect(o.overflow.map((p) => p.id)).to.deep.equal(["n0", "n1", "n2"]);
  });
});

describe("notifications: payloads", () => {
  const parse = (body: string) => JSON.parse(body) as Record<string, unknown>;

  it("webhook: the JSON object with the id, also as Idempotency-Key", () => {
    const r = buildRequest(sample(), SUBJECT, { format: "webhook" });
    expect(r.headers["idempotency-key"]).to.equal(sample().id);
    expect(parse(r.body)).to.deep.include({
      id: sample().id,
      event: "RolledBack",
      version: "2.0.0",
      check: { name: "error-rate", value: "0.07" },
      modelDeployment: SUBJECT,
      summary: "models/fraud-detector: 2.0.0 rolled back after check error-rate = 0.07 failed",
    });
  });

  for (const mode of ["binary", "structured"] as const) {
    it(`cloudevents (${mode} mode): a valid CloudEvent for the SDK, with the stable id`, () => {
      const r = buildRequest(sample(), SUBJECT, { format: "cloudevents", cloudEventsMode: mode });
      const event = HTTP.toEvent({ headers: r.headers, body: r.body }) as CloudEvent<Record<string, unknown>>;
      expect(event.validate()).to.equal(true);
      expect(HTTP.isEvent({ headers: r.headers, body: r.body })).to.equal(true);
      expect(event.id).to.equal(sample().id);
      expect(event.source).to.equal(cloudEventSource(SUBJECT));
      expect(event.type).to.equal("dev.mlops.modeldeployment.RolledBack");
      expect(event.specversion).to.equal("1.0");
      expect(event.subject).to.equal("2.0.0");
      expect(event.data).to.deep.include({
        event: "RolledBack",
        check: { name: "error-rate", value: "0.07" },
      });
      if (mode === "binary") expect(r.headers["ce-id"]).to.equal(sample().id);
      else expect(r.headers["content-type"]).to.match(/^application\/cloudevents\+json/);
    });
  }

  it("slack: text and Block Kit blocks within Slack's limits, a tenant's <!channel> escaped", () => {
    const n = sample({ message: "see <!channel> & <https://evil.example|here>", version: "2.0.0<!here>" });
    const m = slackMessage(notificationData(n, SUBJECT));
    // Every text Slack reads as mrkdwn (plain_text shows what it holds, mentions included, as text).
    const mrkdwn = [
      m.text,
      ...JSON.stringify(m.blocks).matchAll(/"type":"mrkdwn","text":"((?:[^"\\]|\\.)*)"/g),
    ]
      .map((x) => (typeof x === "string" ? x : x[1]!))
      .join("\n");
    expect(mrkdwn).to.not.include("<!channel>");
    expect(mrkdwn).to.not.include("<!here>");
    expect(mrkdwn).to.include("&lt;!channel&gt; &amp; &lt;https://evil.example|here&gt;");
    expect(mrkdwn).to.include("2.0.0&lt;!here&gt;");
    expect(m.blocks.map((b) => b.type)).to.deep.equal(["header", "section", "section", "context"]);
    expect(m.text).to.include("rolled back");
  });

  it("teams: one Adaptive Card attachment", () => {
    const r = parse(buildRequest(sample(), SUBJECT, { format: "teams" }).body) as {
      type: string;
      attachments: { contentType: string; content: { type: string; body: { type: string }[] } }[];
    };
    expect(r.type).to.equal("message");
    expect(r.attachments).to.have.length(1);
    expect(r.attachments[0]!.contentType).to.equal("application/vnd.microsoft.card.adaptive");
    expect(r.attachments[0]!.content.body.map((b) => b.type)).to.deep.equal([
      "TextBlock",
      "TextBlock",
      "FactSet",
      "TextBlock",
    ]);
  });

  it("every format stays within MAX_PAYLOAD_BYTES whatever the texts", () => {
    const huge = sample({
      message: "é".repeat(100_000),
      check: { name: "c".repeat(5000), value: "v".repeat(50_000) },
    });
    for (const format of ["webhook", "cloudevents", "slack", "teams"] as const)
      expect(Buffer.byteLength(buildRequest(huge, SUBJECT, { format }).body)).to.be.at.most(
        MAX_PAYLOAD_BYTES,
      );
  });
});

describe("notifications: the destinations file", () => {
  it("reads destinations and says which field is wrong", () => {
    const d = parseDestinations(
      [
        "destinations:",
        "  - name: team-slack",
        "    format: slack",
        "    urlFile: /etc/mro/slack/url",
        "    namespaces: [team-a]",
        "  - name: audit",
        "    format: cloudevents",
        "    url: http://audit.platform.svc:8080/",
        "    cloudEvents: {mode: structured}",
        "    timeoutSeconds: 2",
        "    maxAttempts: 3",
        '    namespaces: ["*"]',
      ].join("\n"),
    );
    expect(d.map((x) => [x.name, x.format, x.cloudEventsMode, x.timeoutMs, x.maxAttempts])).to.deep.equal([
      ["team-slack", "slack", "binary", 5000, 8],
      ["audit", "cloudevents", "structured", 2000, 3],
    ]);
    const bad = (yaml: string) => () => parseDestinations(yaml);
    expect(bad("destinations: [{name: a, format: email, url: http://x/, namespaces: ['*']}]")).to.throw(
      /destinations\[0\]\.format/,
    );
    expect(bad("destinations: [{name: a, format: slack, namespaces: ['*']}]")).to.throw(
      /exactly one of url and urlFile/,
    );
    expect(bad("destinations: [{name: a, format: slack, urlFile: rel/path, namespaces: ['*']}]")).to.throw(
      /urlFile must be an absolute/,
    );
    expect(bad("destinations: [{name: a, format: slack, url: http://x/}]")).to.throw(/namespaces must list/);
    expect(
      bad("destinations: [{name: a, format: slack, url: http://x/, namespaces: ['*'], timeoutSeconds: 99}]"),
    ).to.throw(/timeoutSeconds/);
    const registry = new DestinationRegistry(d);
    expect(registry.judge("team-slack", "team-a").allowed).to.equal(true);
    expect(registry.judge("team-slack", "team-b")).to.deep.include({ allowed: false });
    expect(registry.judge("nope", "team-a")).to.deep.include({ allowed: false });
  });
});

/** A receiver on 127.0.0.1 that answers as `answer` says, recording every request. */
class Receiver {
  readonly requests: { headers: IncomingMessage["headers"]; body: string }[] = [];
  answer: (n: number, res: ServerResponse) => void = (_n, res) => res.writeHead(200).end("ok");
  readonly #server: Server = createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => (body += c));
    req.on("end", () => {
      this.requests.push({ headers: req.headers, body });
      this.answer(this.requests.length, res);
    });
  });
  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, "127.0.0.1", r));
    return this;
  }
  get url(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/hook`;
  }
  async stop(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

const waitUntil = async (what: string, pred: () => boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe("notifications: the notifier", function () {
  this.timeout(20_000);
  let receiver: Receiver;
  beforeEach(async () => (receiver = await new Receiver().start()));
  afterEach(() => receiver.stop());

  function setup(destination: string, options: { allowLoopback?: boolean } = {}) {
    const counts: [string, DeliveryResult][] = [];
    const changed: string[] = [];
    const registry = new DestinationRegistry(parseDestinations(destination));
    const policy = new DestinationPolicyJudge({
      mode: "default",
      allowCidrs: options.allowLoopback === false ? [] : ["127.0.0.0/8"],
      allowHosts: [],
      apiServers: [],
    });
    const notifier = new Notifier({
      destinations: registry,
      policy,
      send: checkFetch({ judgeAddress: (a, p) => policy.judgeAddress(a, p) }),
      files: { readText: () => Promise.reject(new Error("no files here")) },
      metrics: { countNotification: (d, r) => counts.push([d, r]), setNotificationQueue: () => undefined },
      onChange: (k) => changed.push(k),
      backoffBaseMs: 20,
      backoffMaxMs: 100,
    });
    const md = (pending: PendingNotification[]): ModelDeployment => ({
      ...makeMd(),
      status: { pendingNotifications: pending },
    });
    return { notifier, counts, changed, md };
  }
  const dest = (url: string, extra = "") =>
    `destinations: [{name: team, format: webhook, url: "${url}", namespaces: ["*"]${extra}}]`;

  it("retries a receiver that fails twice, then it is settled once; offer never waits", async () => {
    receiver.answer = (n, res) => res.writeHead(n <= 2 ? 503 : 200).end();
    const { notifier, counts, md } = setup(dest(receiver.url));
    // offer hands the notification over and returns at once: nothing has been sent yet.
    expect(notifier.offer("models/fraud-detector", md([sample()]))).to.equal(0);
    expect(receiver.requests).to.have.length(0);
    await waitUntil("settled", () => notifier.settled("models/fraud-detector").length === 1);
    expect(receiver.requests.map((r) => r.headers["idempotency-key"])).to.deep.equal([
      sample().id,
      sample().id,
      sample().id,
    ]);
    expect(counts).to.deep.equal([
      ["team", "failed"],
      ["team", "failed"],
      ["team", "delivered"],
    ]);
    const reports = notifier.takeReports("models/fraud-detector");
    expect(reports.map((r) => r.kind)).to.deep.equal(["failed"]);
    expect(reports[0]!.message).to.include("HTTP 503");
    // Offered again with the same status (the removal not yet written): not sent again.
    notifier.offer("models/fraud-detector", md([sample()]));
    await new Promise((r) => setTimeout(r, 100));
    expect(receiver.requests).to.have.length(3);
  });

  it("a receiver that never answers: each attempt ends at the timeout, the notification is given up after maxAttempts", async () => {
    receiver.answer = () => undefined;
    const { notifier, md } = setup(dest(receiver.url, ", maxAttempts: 2, timeoutSeconds: 0.3"));
    notifier.offer("k", md([sample()]));
    await waitUntil("given up", () => notifier.settled("k").length === 1);
    expect(receiver.requests).to.have.length(2);
    const reports = notifier.takeReports("k");
    expect(reports.map((r) => r.kind)).to.deep.equal(["failed", "dropped"]);
    expect(reports[1]!.message).to.match(/given up after 2 attempts: no answer within 300 ms/);
  });

  it("the destination policy: a loopback URL the platform does not allow is given up without a request", async () => {
    const { notifier, md } = setup(dest(receiver.url), { allowLoopback: false });
    notifier.offer("k", md([sample()]));
    await waitUntil("given up", () => notifier.settled("k").length === 1);
    expect(receiver.requests).to.have.length(0);
    expect(notifier.takeReports("k")[0]!.message).to.match(
      /denied by the platform's policy: 127\.0\.0\.1 is a loopback address/,
    );
  });

  it("a 4xx other than 408/429 is not retried; a destination no longer declared is given up", async () => {
    receiver.answer = (_n, res) => res.writeHead(404).end();
    const { notifier, md } = setup(dest(receiver.url));
    notifier.offer("k", md([sample(), sample({ id: "other", destinations: ["gone"] })]));
    await waitUntil("both settled", () => notifier.settled("k").length === 2);
    expect(receiver.requests).to.have.length(1);
    const messages = notifier.takeReports("k").map((r) => r.message);
    expect(
      messages.some((m) => /given up: HTTP 404/.test(m)),
      messages.join("\n"),
    ).to.equal(true);
    expect(
      messages.some((m) => /no longer declares destination gone/.test(m)),
      messages.join("\n"),
    ).to.equal(true);
  });
});
