// Notifications from the real operator to a real HTTP receiver on 127.0.0.1, with the real
// control plane: one destination per format, each payload checked with that format's own
// library (the CloudEvents SDK, Slack's Block Kit rules on Slack's types, the Adaptive Cards
// JSON schema with ajv); a receiver that fails twice; the operator killed (SIGKILL) at each
// crash point around a transition; a receiver that never answers.
import type { KnownBlock } from "@slack/types";
import { expect } from "chai";
import { HTTP, type CloudEvent } from "cloudevents";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SlackMessage } from "../../src/notify/payloads.ts";
import { adaptiveCardValidator } from "../support/adaptive-card-schema.ts";
import { createNamespace, kubectl, waitFor } from "../support/kube.ts";
import {
  applyMd,
  condition,
  getMd,
  isReady,
  mdEvents,
  modelDeployment,
  waitForMd,
  type Md,
} from "../support/md.ts";
import { startOperator, type OperatorProcess } from "../support/operator.ts";
import { checkSlackMessage } from "../support/slack-blocks.ts";

interface Received {
  path: string;
  headers: IncomingMessage["headers"];
  body: string;
  /** The receiver answered 2xx: a delivery the sender may count as done. */
  accepted: boolean;
  /** The notification's id and event, as the payload of its format carries them. */
  id: string;
  event: string;
  step?: number;
}

type Answer = "ok" | "fail" | "hang";

/** One HTTP server on 127.0.0.1 for every destination (a path each) and the health check. */
class Receiver {
  readonly received: Received[] = [];
  /** How each path answers (default ok); a function decides per request. */
  readonly answers = new Map<string, Answer | ((r: Received) => Answer)>();
  checkStatus = 200;
  readonly #hanging = new Set<ServerResponse>();
  readonly #server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0]!;
    if (path === "/check") return void res.writeHead(this.checkStatus).end();
    let body = "";
    req.setEncoding("utf8").on("data", (c: string) => (body += c));
    req.on("end", () => {
      const r: Received = {
        path,
        headers: req.headers,
        body,
        accepted: false,
        ...idOf(path, req.headers, body),
      };
      const how = this.answers.get(path) ?? "ok";
      const answer = typeof how === "function" ? how(r) : how;
      this.received.push(r);
      if (answer === "hang") return void this.#hanging.add(res);
      r.accepted = answer === "ok";
      res.writeHead(answer === "ok" ? 200 : 503).end(answer === "ok" ? "ok" : "unavailable");
    });
  });
  async start(): Promise<this> {
    await new Promise<void>((r) => this.#server.listen(0, "127.0.0.1", r));
    return this;
  }
  url(path: string): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}${path}`;
  }
  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }
  /** Accepted deliveries at `path`, one per id (what a receiver that drops duplicates keeps). */
  unique(path: string): Received[] {
    const seen = new Set<string>();
    return this.at(path).filter((r) => r.accepted && !seen.has(r.id) && seen.add(r.id));
  }
  async stop(): Promise<void> {
    for (const res of this.#hanging) res.destroy();
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

/** The id and event of a request in any of the four formats (each carries them its own way). */
function idOf(
  path: string,
  headers: IncomingMessage["headers"],
  body: string,
): { id: string; event: string; step?: number } {
  const json = JSON.parse(body) as Record<string, unknown>;
  if (path.startsWith("/ce")) {
    const e = HTTP.toEvent({ headers, body }) as CloudEvent<{ event: string; step?: number }>;
    return { id: e.id, event: e.data!.event, step: e.data!.step };
  }
  if (path.startsWith("/slack")) {
    const blocks = json.blocks as {
      type: string;
      elements?: { text: string }[];
      fields?: { text: string }[];
    }[];
    const context = blocks.find((b) => b.type === "context")?.elements?.[0]?.text ?? "";
    const fields = blocks.flatMap((b) => b.fields ?? []).map((f) => f.text);
    const event = fields.find((f) => f.startsWith("*Event*\n"))?.slice("*Event*\n".length) ?? "";
    return { id: /id ([0-9a-f]{32})/.exec(context)?.[1] ?? "", event };
  }
  if (path.startsWith("/teams")) {
    const card = (
      json.attachments as {
        content: { body: { type: string; text?: string; facts?: { title: string; value: string }[] }[] };
      }[]
    )[0]!.content;
    const id = /id ([0-9a-f]{32})/.exec(card.body[card.body.length - 1]?.text ?? "")?.[1] ?? "";
    const event =
      card.body.find((b) => b.type === "FactSet")?.facts?.find((f) => f.title === "Event")?.value ?? "";
    return { id, event };
  }
  return { id: json.id as string, event: json.event as string, step: json.step as number | undefined };
}

const annotate = (ns: string, name: string, action: string) =>
  kubectl(["-n", ns, "annotate", "md", name, `mlops.dev/action=${action}`, "--overwrite"]);

const pendingOf = (md: Md) =>
  (
    md.status as
      { pendingNotifications?: { id: string; event: string; destinations: string[] }[] } | undefined
  )?.pendingNotifications ?? [];

const metric = async (op: OperatorProcess, destination: string, result: string): Promise<number> => {
  const text = await (await fetch(`${op.metricsUrl}/metrics`)).text();
  const line = text
    .split("\n")
    .find((l) =>
      l.startsWith(
        `model_rollout_notification_deliveries_total{destination="${destination}",result="${result}"}`,
      ),
    );
  return line ? Number(line.split(" ").pop()) : 0;
};

describe("notifications", function () {
  this.timeout(300_000);
  let receiver: Receiver;
  let dir: string;
  let ns: string;
  let cleanup: () => Promise<void>;
  let op: OperatorProcess | undefined;
  let destinationsFile: string;

  const DESTINATIONS = ["hook", "ce-binary", "ce-structured", "slack", "teams"];

  before(async () => {
    receiver = await new Receiver().start();
    dir = mkdtempSync(join(tmpdir(), "mro-notify-"));
    // Slack's and Teams' URLs carry their token: in files, as a Secret mounted into the pod gives them.
    writeFileSync(join(dir, "slack-url"), `${receiver.url("/slack/T0001/B0001/s3cr3t-token")}\n`);
    writeFileSync(join(dir, "teams-url"), `${receiver.url("/teams/webhookb2/s3cr3t-token")}\n`);
    destinationsFile = join(dir, "destinations.yaml");
    writeFileSync(
      destinationsFile,
      [
        "destinations:",
        `  - {name: hook, format: webhook, url: "${receiver.url("/hook")}", namespaces: ["*"]}`,
        `  - {name: ce-binary, format: cloudevents, url: "${receiver.url("/ce-binary")}", namespaces: ["*"]}`,
        `  - {name: ce-structured, format: cloudevents, cloudEvents: {mode: structured}, url: "${receiver.url("/ce-structured")}", namespaces: ["*"]}`,
        `  - {name: slack, format: slack, urlFile: "${join(dir, "slack-url")}", namespaces: ["*"]}`,
        `  - {name: teams, format: teams, urlFile: "${join(dir, "teams-url")}", namespaces: ["*"]}`,
        `  - {name: flaky, format: webhook, url: "${receiver.url("/flaky")}", namespaces: ["*"]}`,
        `  - {name: black-hole, format: webhook, url: "${receiver.url("/black-hole")}", namespaces: ["*"]}`,
        `  - {name: crash, format: webhook, url: "${receiver.url("/crash")}", maxAttempts: 20, namespaces: ["*"]}`,
        "",
      ].join("\n"),
    );
  });
  after(async () => {
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(async function () {
    ({ name: ns, cleanup } = await createNamespace(this.currentTest?.title.slice(0, 16) ?? "n"));
    receiver.checkStatus = 200;
  });
  afterEach(async () => {
    await op?.stop("SIGKILL");
    op = undefined;
    await cleanup();
  });

  const start = async () =>
    (op = await startOperator({
      namespace: ns,
      args: [`--notification-destinations-file=${destinationsFile}`],
    }));

  const md = (
    name: string,
    version: string,
    destinations: string[],
    extra: { steps?: unknown[]; events?: string[] } = {},
  ) =>
    modelDeployment(name, {
      version,
      strategy: { canary: { steps: (extra.steps ?? [{ setWeight: 50 }, { pause: {} }]) as never } },
      healthChecks: {
        interval: "1s",
        failureThreshold: 1,
        checks: [{ name: "ready", http: { url: receiver.url("/check") } }] as never,
      },
      extra: {
        notifications: destinations.map((d) => ({
          destination: d,
          ...(extra.events ? { events: extra.events } : {}),
        })),
      },
    });

  const delivered = (name: string) =>
    waitForMd(ns, name, "every notification delivered", (m) => pendingOf(m).length === 0, 60_000);

  it("sends every event of a rollout to each format, each payload valid for its format's own library", async () => {
    const validateCard = adaptiveCardValidator();
    await start();
    await applyMd(ns, md("fraud", "1.0.0", DESTINATIONS));
    await waitForMd(ns, "fraud", "1.0.0 Ready", isReady);
    // A canary paused for a promote, then promoted.
    await applyMd(ns, md("fraud", "2.0.0", DESTINATIONS));
    await waitForMd(
      ns,
      "fraud",
      "2.0.0 waiting at the pause",
      (m) => m.status?.currentStep === 1 && pendingOf(m).length === 0,
    );
    await annotate(ns, "fraud", "promote");
    await waitForMd(ns, "fraud", "2.0.0 promoted", (m) => isReady(m) && m.status?.stableVersion === "2.0.0");
    // A candidate whose check fails: rolled back, stalled.
    receiver.checkStatus = 503;
    await applyMd(ns, md("fraud", "3.0.0", DESTINATIONS));
    await waitForMd(
      ns,
      "fraud",
      "3.0.0 rolled back",
      (m) => condition(m, "Stalled")?.reason === "HealthCheckFailed",
    );
    // A candidate aborted at its pause.
    receiver.checkStatus = 200;
    await applyMd(ns, md("fraud", "4.0.0", DESTINATIONS));
    await waitForMd(
      ns,
      "fraud",
      "4.0.0 at the pause",
      (m) => m.status?.candidateVersion === "4.0.0" && m.status.currentStep === 1,
    );
    await annotate(ns, "fraud", "abort");
    await waitForMd(ns, "fraud", "4.0.0 aborted", (m) => condition(m, "Stalled")?.reason === "Aborted");
    await delivered("fraud");

    const expected = [
      "Promoted",
      "RolloutStarted",
      "StepStarted",
      "StepStarted",
      "AwaitingPromotion",
      "Promoted",
      "RolloutStarted",
      "StepStarted",
      "RolledBack",
      "Stalled",
      "RolloutStarted",
      "StepStarted",
      "StepStarted",
      "AwaitingPromotion",
      "Aborted",
      "Stalled",
    ];
    const paths = {
      hook: "/hook",
      "ce-binary": "/ce-binary",
      "ce-structured": "/ce-structured",
      slack: "/slack/T0001/B0001/s3cr3t-token",
      teams: "/teams/webhookb2/s3cr3t-token",
    };
    const ids = new Map<string, string[]>();
    for (const [dest, path] of Object.entries(paths)) {
      const got = receiver.at(path);
      expect(
        got.every((r) => r.accepted),
        dest,
      ).to.equal(true);
      // Delivered once each: no retries were needed, so no duplicates.
      expect(new Set(got.map((r) => r.id)).size, dest).to.equal(got.length);
      expect(
        got.map((r) => r.event),
        dest,
      ).to.deep.equal(expected);
      ids.set(
        dest,
        got.map((r) => r.id),
      );
      for (const r of got) {
        if (dest === "hook") {
          const body = JSON.parse(r.body) as Record<string, unknown>;
          expect(r.headers["idempotency-key"]).to.equal(body.id);
          expect(body.modelDeployment).to.deep.include({ namespace: ns, name: "fraud" });
          expect(body.summary).to.be.a("string");
        } else if (dest.startsWith("ce")) {
          const event = HTTP.toEvent({ headers: r.headers, body: r.body }) as CloudEvent;
          expect(event.validate()).to.equal(true);
          expect(event.specversion).to.equal("1.0");
          expect(event.source).to.equal(`/apis/mlops.dev/v1alpha1/namespaces/${ns}/modeldeployments/fraud`);
          expect(event.type).to.equal(`dev.mlops.modeldeployment.${r.event}`);
          if (dest === "ce-binary") expect(r.headers["ce-id"]).to.equal(r.id);
          else expect(r.headers["content-type"]).to.match(/^application\/cloudevents\+json/);
        } else if (dest === "slack") {
          const message = JSON.parse(r.body) as SlackMessage;
          const blocks: KnownBlock[] = message.blocks;
          expect(checkSlackMessage({ text: message.text, blocks }), r.body).to.deep.equal([]);
        } else {
          const teams = JSON.parse(r.body) as {
            type: string;
            attachments: { contentType: string; content: unknown }[];
          };
          expect(teams.type).to.equal("message");
          expect(teams.attachments[0]!.contentType).to.equal("application/vnd.microsoft.card.adaptive");
          expect(validateCard(teams.attachments[0]!.content), JSON.stringify(validateCard.errors)).to.equal(
            true,
          );
        }
      }
    }
    // One id per transition, the same in every format.
    for (const list of ids.values()) expect(list).to.deep.equal(ids.get("hook"));
    // The rollback says which check failed with what value; the Slack message shows it too.
    const rolledBack = JSON.parse(receiver.at("/hook").find((r) => r.event === "RolledBack")!.body) as {
      version: string;
      check: { name: string; value: string };
      reason: string;
    };
    expect(rolledBack).to.deep.include({
      version: "3.0.0",
      reason: "HealthCheckFailed",
      check: { name: "ready", value: "503" },
    });
    const slack = receiver.at("/slack/T0001/B0001/s3cr3t-token").find((r) => r.event === "RolledBack")!;
    expect(slack.body).to.include("*Failed check*\\nready").and.include("*Check value*\\n503");
    const step = receiver
      .at("/hook")
      .filter((r) => r.event === "StepStarted")
      .map((r) => JSON.parse(r.body) as { step: number; weight?: number });
    expect(step.slice(0, 2)).to.deep.equal([
      { ...step[0], step: 0, weight: 50 },
      { ...step[1], step: 1 },
    ]);
    // The token in the URL files is in no log line and no Event.
    expect(op!.logs()).to.not.include("s3cr3t-token");
    expect(JSON.stringify(await mdEvents(ns, "fraud"))).to.not.include("s3cr3t-token");
  });

  it("a receiver that fails twice then succeeds: delivered, with one id; a metric and an Event say it failed", async () => {
    let answered = 0;
    receiver.answers.set("/flaky", () => (++answered <= 2 ? "fail" : "ok"));
    await start();
    await applyMd(ns, md("flaky", "1.0.0", ["flaky"]));
    await waitForMd(ns, "flaky", "1.0.0 Ready", isReady);
    await delivered("flaky");
    const got = receiver.at("/flaky");
    expect(got.map((r) => [r.event, r.accepted])).to.deep.equal([
      ["Promoted", false],
      ["Promoted", false],
      ["Promoted", true],
    ]);
    expect(new Set(got.map((r) => r.id)).size).to.equal(1);
    expect(await metric(op!, "flaky", "failed")).to.equal(2);
    expect(await metric(op!, "flaky", "delivered")).to.equal(1);
    const events = await waitFor("a NotificationFailed Event", async () => {
      const e = (await mdEvents(ns, "flaky")).filter((x) => x.reason === "NotificationFailed");
      return e.length > 0 ? e : undefined;
    });
    expect(events[0]!.message).to.include("to flaky failed: HTTP 503; retrying");
    expect(events[0]!.type).to.equal("Warning");
  });

  it("a receiver that never answers: the rollout goes on at the speed of one without notifications", async () => {
    receiver.answers.set("/black-hole", "hang");
    await start();
    const steps = [
      { setWeight: 25 },
      { pause: { duration: "2s" } },
      { setWeight: 50 },
      { pause: { duration: "2s" } },
    ];
    await applyMd(ns, md("loud", "1.0.0", ["black-hole"], { steps }));
    await applyMd(ns, md("quiet", "1.0.0", [], { steps }));
    await waitForMd(ns, "loud", "loud Ready", isReady);
    await waitForMd(ns, "quiet", "quiet Ready", isReady);
    const t0 = Date.now();
    await applyMd(ns, md("loud", "2.0.0", ["black-hole"], { steps }));
    await applyMd(ns, md("quiet", "2.0.0", [], { steps }));
    const done = async (name: string) => {
      await waitForMd(
        ns,
        name,
        `${name} 2.0.0 promoted`,
        (m) => isReady(m) && m.status?.stableVersion === "2.0.0",
        90_000,
      );
      return Date.now() - t0;
    };
    const [loud, quiet] = await Promise.all([done("loud"), done("quiet")]);
    console.log(
      `      rollout with a receiver that never answers: ${loud} ms, without notifications: ${quiet} ms`,
    );
    expect(loud).to.be.below(quiet + 3000);
    // The notifications were sent and are still waiting for an answer (or a retry), in status.
    expect(receiver.at("/black-hole").length).to.be.greaterThan(0);
    expect(receiver.at("/black-hole").some((r) => r.accepted)).to.equal(false);
    expect(pendingOf(await getMd(ns, "loud")).length).to.be.greaterThan(0);
  });

  describe("the operator killed (SIGKILL) around a transition", () => {
    const startedOf = (name: string) => (r: Received) =>
      r.event === "RolloutStarted" && JSON.parse(r.body).modelDeployment.name === name;

    it("after the change, before the status write: the transition is decided again after the restart and delivered once", async () => {
      await start();
      await applyMd(ns, md("crash-a", "1.0.0", ["crash"], { events: ["RolloutStarted"] }));
      await waitForMd(ns, "crash-a", "1.0.0 Ready", isReady);
      // Frozen, the operator cannot write; the change lands; then it dies without having written.
      process.kill(op!.pid, "SIGSTOP");
      await applyMd(ns, md("crash-a", "2.0.0", ["crash"], { events: ["RolloutStarted"] }));
      const before = await getMd(ns, "crash-a");
      expect(before.status?.candidateVersion).to.equal(undefined);
      await op!.stop("SIGKILL");
      await start();
      await delivered("crash-a").then(() =>
        waitFor(
          "the RolloutStarted delivery",
          async () => receiver.unique("/crash").filter(startedOf("crash-a")).length === 1,
        ),
      );
      const got = receiver.at("/crash").filter(startedOf("crash-a"));
      expect(got.map((r) => r.accepted)).to.deep.equal([true]);
    });

    it("after the status write, before the delivery: the restarted operator sends what status holds, with its id, once", async () => {
      receiver.answers.set("/crash", "fail");
      await start();
      await applyMd(ns, md("crash-b", "1.0.0", ["crash"], { events: ["RolloutStarted"] }));
      await waitForMd(ns, "crash-b", "1.0.0 Ready", isReady);
      await applyMd(ns, md("crash-b", "2.0.0", ["crash"], { events: ["RolloutStarted"] }));
      const written = await waitForMd(ns, "crash-b", "RolloutStarted in the outbox", (m) =>
        pendingOf(m).some((p) => p.event === "RolloutStarted"),
      );
      const id = pendingOf(written).find((p) => p.event === "RolloutStarted")!.id;
      await waitFor("a refused attempt", async () => receiver.at("/crash").some((r) => r.id === id));
      await op!.stop("SIGKILL");
      receiver.answers.set("/crash", "ok");
      await start();
      await delivered("crash-b");
      const got = receiver.at("/crash").filter((r) => r.id === id);
      expect(got.filter((r) => r.accepted)).to.have.length(1);
      expect(got.every((r) => r.event === "RolloutStarted")).to.equal(true);
      expect(
        receiver
          .at("/crash")
          .filter(startedOf("crash-b"))
          .every((r) => r.id === id),
      ).to.equal(true);
    });

    it("a change of leader: the standby that takes over the Lease sends what the killed leader left in status, with its id", async () => {
      const lease = `mro-notify-${ns}`;
      const replica = (pod: string) =>
        startOperator({
          namespace: ns,
          args: [
            `--notification-destinations-file=${destinationsFile}`,
            "--leader-elect",
            `--leader-election-namespace=${ns}`,
            `--leader-election-id=${lease}`,
            "--leader-elect-lease-duration=6s",
            "--leader-elect-renew-deadline=4s",
            "--leader-elect-retry-period=1s",
          ],
          env: { POD_NAME: pod },
        });
      const holder = async () =>
        (
          await kubectl(["-n", ns, "get", "lease", lease, "-o", "jsonpath={.spec.holderIdentity}"]).catch(
            () => "",
          )
        ).trim();
      receiver.answers.set("/crash", "fail");
      const a = (op = await replica("op-a"));
      await waitFor("op-a leads", async () => (await holder()) === "op-a");
      const b = await replica("op-b");
      try {
        await applyMd(ns, md("crash-l", "1.0.0", ["crash"], { events: ["Promoted"] }));
        const written = await waitForMd(ns, "crash-l", "Promoted in the outbox", (m) =>
          pendingOf(m).some((p) => p.event === "Promoted"),
        );
        const id = pendingOf(written)[0]!.id;
        await waitFor("a refused attempt", async () => receiver.at("/crash").some((r) => r.id === id));
        await a.stop("SIGKILL");
        receiver.answers.set("/crash", "ok");
        await waitFor("op-b leads", async () => (await holder()) === "op-b", { timeoutMs: 30_000 });
        await delivered("crash-l");
        const got = receiver.at("/crash").filter((r) => r.id === id);
        expect(got.filter((r) => r.accepted)).to.have.length(1);
        expect(
          receiver
            .at("/crash")
            .filter((r) => r.event === "Promoted" && JSON.parse(r.body).modelDeployment.name === "crash-l")
            .every((r) => r.id === id),
        ).to.equal(true);
      } finally {
        await b.stop("SIGKILL");
      }
    });

    it("after the receiver took it, before the outbox removal: delivered again after the restart, with the same id", async () => {
      await start();
      await applyMd(ns, md("crash-c", "1.0.0", ["crash"], { events: ["RolloutStarted"] }));
      await waitForMd(ns, "crash-c", "1.0.0 Ready", isReady);
      // The receiver takes the notification, and the operator dies before it hears the answer.
      let killed = false;
      receiver.answers.set("/crash", (r) => {
        if (!killed && r.event === "RolloutStarted") {
          killed = true;
          process.kill(op!.pid, "SIGKILL");
        }
        return "ok";
      });
      await applyMd(ns, md("crash-c", "2.0.0", ["crash"], { events: ["RolloutStarted"] }));
      await op!.exited;
      expect(pendingOf(await getMd(ns, "crash-c")).map((p) => p.event)).to.deep.equal(["RolloutStarted"]);
      await start();
      await delivered("crash-c");
      const got = receiver.at("/crash").filter(startedOf("crash-c"));
      expect(got.map((r) => r.accepted)).to.deep.equal([true, true]);
      expect(new Set(got.map((r) => r.id)).size).to.equal(1);
      // The rollout itself went on.
      await waitForMd(ns, "crash-c", "2.0.0 at its pause", (m) => m.status?.currentStep === 1);
    });
  });
});
