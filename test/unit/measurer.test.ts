// The measurer runs health checks beside the work queue: a reconcile hands over due
// checks and takes back finished measurements; a finished one asks for a reconcile;
// concurrency is capped in total and per destination, and ModelDeployments take turns.
import { expect } from "chai";
import { Measurer, destinationOf } from "../../src/controller/measurer.ts";
import type { DueCheck, Measurement } from "../../src/plan/types.ts";

const due = (name: string, url = `http://${name}.models.svc:80/ready`): DueCheck => ({
  check: { name, http: { url } },
  vars: { name: "m", namespace: "models", version: "2", service: "m-2" },
  url,
  timeoutMs: 5000,
});

/** A measure function whose measurements end when the test says so. */
function controlled() {
  const started: { due: DueCheck; end: (phase?: Measurement["phase"]) => void }[] = [];
  const measure = (d: DueCheck) =>
    new Promise<Measurement>((resolve) =>
      started.push({
        due: d,
        end: (phase = "Successful") =>
          resolve({ name: d.check.name, phase, time: "2030-01-01T00:00:00.000Z" }),
      }),
    );
  return { started, measure };
}

const settle = () => new Promise((r) => setImmediate(r));

describe("Measurer", () => {
  it("measures due checks without the caller waiting, and asks for a reconcile when one is done", async () => {
    const { started, measure } = controlled();
    const asked: string[] = [];
    const m = new Measurer({ measure, onMeasured: (key) => asked.push(key) });
    expect(m.take("ns/a", [due("x"), due("y")], "ctx")).to.deep.equal({ measurements: [], pending: 2 });
    expect(started.map((s) => s.due.check.name)).to.deep.equal(["x", "y"]);
    // Taken again while in flight: nothing starts twice.
    expect(m.take("ns/a", [due("x"), due("y")], "ctx").pending).to.equal(2);
    expect(started).to.have.length(2);
    started[0]!.end("Failed");
    await settle();
    expect(asked).to.deep.equal(["ns/a"]);
    const taken = m.take("ns/a", [due("x"), due("y")], "ctx");
    expect(taken.measurements.map((x) => [x.name, x.phase])).to.deep.equal([["x", "Failed"]]);
    expect(taken.pending).to.equal(1);
    // Handed over again while still due (a reconcile that failed gets it after its backoff,
    // without a new measurement); dropped once no longer due.
    expect(m.take("ns/a", [due("x")], "ctx").measurements.map((x) => x.name)).to.deep.equal(["x"]);
    expect(started).to.have.length(2);
    expect(m.take("ns/a", [due("y")], "ctx").measurements).to.deep.equal([]);
    expect(m.take("ns/a", [due("x"), due("y")], "ctx").pending).to.equal(2);
    expect(started).to.have.length(3, "x measured again once it is due again");
  });

  it("measures again at once after a reconcile settled what it took (a result held in memory)", async () => {
    const { started, measure } = controlled();
    const m = new Measurer({ measure, onMeasured: () => undefined });
    m.take("ns/a", [due("x")], "ctx");
    started[0]!.end();
    await settle();
    const taken = m.take("ns/a", [due("x")], "ctx");
    expect(taken.measurements).to.have.length(1);
    // Without settle, the same measurement would be handed over while x stays due.
    m.settle("ns/a", taken.measurements);
    expect(m.take("ns/a", [due("x")], "ctx")).to.deep.equal({ measurements: [], pending: 1 });
    expect(started).to.have.length(2);
  });

  it("drops a measurement started in another state and measures again", async () => {
    const { started, measure } = controlled();
    const m = new Measurer({ measure, onMeasured: () => undefined });
    m.take("ns/a", [due("x")], "step 0");
    started[0]!.end();
    await settle();
    const taken = m.take("ns/a", [due("x")], "step 1");
    expect(taken).to.deep.equal({ measurements: [], pending: 1 });
    expect(started).to.have.length(2);
  });

  it("caps measurements in flight in total and per destination, and lets ModelDeployments take turns", async () => {
    const { started, measure } = controlled();
    const m = new Measurer({ measure, onMeasured: () => undefined, maxConcurrent: 3, maxPerDestination: 2 });
    const slow = "http://slow.example:8080/ready";
    m.take("ns/busy", [due("a", slow), due("b", slow), due("c", slow), due("d", slow)], "ctx");
    m.take("ns/quiet", [due("q")], "ctx");
    // Two of busy (its destination's cap) and quiet's one; the total cap is 3.
    expect(started.map((s) => s.due.check.name).sort()).to.deep.equal(["a", "b", "q"]);
    expect(m.running).to.equal(3);
    started[0]!.end();
    await settle();
    expect(started.map((s) => s.due.check.name)).to.include("c");
    expect(m.running).to.equal(3);
  });

  it("serves ModelDeployments in turn when the total cap is reached", async () => {
    const { started, measure } = controlled();
    const m = new Measurer({ measure, onMeasured: () => undefined, maxConcurrent: 1 });
    m.take("ns/a", [due("a1"), due("a2"), due("a3")], "ctx");
    m.take("ns/b", [due("b1")], "ctx");
    expect(started.map((s) => s.due.check.name)).to.deep.equal(["a1"]);
    started[0]!.end();
    await settle();
    expect(started.map((s) => s.due.check.name)).to.deep.equal(["a1", "b1"]);
    started[1]!.end();
    await settle();
    expect(started.map((s) => s.due.check.name)).to.deep.equal(["a1", "b1", "a2"]);
  });

  it("cancels waiting checks that are no longer due, and forgets a deleted ModelDeployment", async () => {
    const { started, measure } = controlled();
    const asked: string[] = [];
    const m = new Measurer({ measure, onMeasured: (k) => asked.push(k), maxConcurrent: 1 });
    m.take("ns/a", [due("a1"), due("a2")], "ctx");
    m.take("ns/a", [], "ctx");
    started[0]!.end();
    await settle();
    expect(started).to.have.length(1, "a2 never started");
    m.take("ns/b", [due("b1")], "ctx");
    expect(started).to.have.length(2);
    m.forget("ns/b");
    started[1]!.end();
    await settle();
    expect(asked).to.deep.equal(["ns/a"]);
  });

  it("names a destination by host and port", () => {
    expect(destinationOf(due("x", "http://a.b.svc/ready"))).to.equal("a.b.svc:80");
    expect(destinationOf(due("x", "https://a.b.svc/ready"))).to.equal("a.b.svc:443");
    expect(
      destinationOf({
        check: {
          name: "p",
          prometheus: { address: "http://prometheus.monitoring:9090", query: "up", successCondition: "true" },
        },
        vars: { name: "m", namespace: "n", version: "1", service: "m-1" },
        timeoutMs: 1000,
      }),
    ).to.equal("prometheus.monitoring:9090");
  });
});
