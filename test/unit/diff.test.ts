import { expect } from "chai";
import { containsDesired, needsWrite, sameJson } from "../../src/controller/diff.ts";

describe("deciding whether a child needs a write", () => {
  const desired = {
    metadata: { name: "m-1", labels: { "mlops.dev/model": "m" } },
    spec: { replicas: 2, ports: [{ name: "http", port: 80, targetPort: "http" }] },
  };
  const observed = {
    metadata: { name: "m-1", uid: "u", labels: { "mlops.dev/model": "m", extra: "x" }, resourceVersion: "7" },
    spec: {
      replicas: 2,
      clusterIP: "10.0.0.1",
      ports: [{ name: "http", port: 80, targetPort: "http", protocol: "TCP" }],
    },
    status: {},
  };

  it("no write when the observed object holds every desired field (server defaults are extra)", () => {
    expect(needsWrite(desired, observed)).to.equal(false);
  });

  it("a write when a desired value differs, a field is missing, or the object does not exist", () => {
    expect(needsWrite({ ...desired, spec: { ...desired.spec, replicas: 3 } }, observed)).to.equal(true);
    expect(
      needsWrite({ ...desired, metadata: { ...desired.metadata, labels: { a: "b" } } }, observed),
    ).to.equal(true);
    expect(needsWrite(desired, undefined)).to.equal(true);
  });

  it("lists must have the same length and matching items", () => {
    expect(containsDesired([1, 2], [1, 2, 3])).to.equal(false);
    expect(containsDesired([{ a: 1 }], [{ a: 1, b: 2 }])).to.equal(true);
  });

  it("sameJson ignores undefined keys and compares deeply", () => {
    expect(sameJson({ a: 1, b: undefined, c: [{ d: "x" }] }, { a: 1, c: [{ d: "x" }] })).to.equal(true);
    expect(sameJson({ a: 1 }, { a: 2 })).to.equal(false);
    expect(sameJson([1], { 0: 1 })).to.equal(false);
  });
});
