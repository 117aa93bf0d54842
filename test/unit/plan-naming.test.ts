// Child names, the revision hash and durations.
import { expect } from "chai";
import {
  childName,
  clientsServiceName,
  computeRevision,
  formatDuration,
  isDuration,
  parseDuration,
  previewServiceName,
  versionSlug,
} from "../../src/plan/index.ts";
import { makeMd } from "./plan-fixtures.ts";

describe("plan: naming", () => {
  const slugs: [string, string][] = [
    ["2.1.0", "2-1-0"],
    ["V2_RC1", "v2-rc1"],
    ["1.0.0-beta.1", "1-0-0-beta-1"],
    ["abc", "abc"],
  ];
  for (const [version, slug] of slugs) {
    it(`versionSlug(${JSON.stringify(version)}) = ${slug}`, () =>
      expect(versionSlug(version)).to.equal(slug));
  }

  it("names a version's children NAME-V", () => {
    expect(childName("fraud-detector", "2.1.0")).to.equal("fraud-detector-2-1-0");
  });

  it("cuts names longer than 63 characters and ends them with a hash of the full name", () => {
    const long = childName("a".repeat(50), "1.0.0-release-candidate");
    expect(long).to.have.length(63);
    expect(long).to.match(/^a{50}-1-0-[0-9a-f]{8}$/);
    const other = childName("a".repeat(50), "1.0.0-release-candidatf");
    expect(other).to.not.equal(long);
    expect(other.slice(0, 54)).to.equal(long.slice(0, 54));
    expect(childName("a".repeat(50), "1.0.0-release-candidate")).to.equal(long);
    // A cut that would end in '-' does not leave "--" before the hash.
    expect(childName("b".repeat(53), "1.0.0-rc-long-version-name")).to.not.include("--");
  });

  it("names the clients' and the preview Service", () => {
    const md = makeMd();
    expect(clientsServiceName(md)).to.equal("fraud-detector");
    expect(previewServiceName(md)).to.equal("fraud-detector-preview");
    expect(previewServiceName(makeMd({}, "m".repeat(60)))).to.have.length(63);
  });

  it("the revision is 10 hex characters, independent of key order, and changes with template or model", () => {
    const a = makeMd();
    const b = makeMd();
    b.spec.template = JSON.parse(
      JSON.stringify({ spec: b.spec.template.spec, metadata: b.spec.template.metadata }),
    ) as typeof b.spec.template;
    b.spec.replicas = 3;
    b.spec.strategy = { blueGreen: {} };
    expect(computeRevision(a)).to.match(/^[0-9a-f]{10}$/);
    expect(computeRevision(b)).to.equal(computeRevision(a));
    const c = makeMd();
    c.spec.template.spec!.containers[0]!.image = "registry.example/fraud:2";
    expect(computeRevision(c)).to.not.equal(computeRevision(a));
    const d = makeMd();
    d.spec.model.uri = "s3://models/fraud/other";
    expect(computeRevision(d)).to.not.equal(computeRevision(a));
  });
});

describe("plan: durations", () => {
  const table: [string, number][] = [
    ["30s", 30_000],
    ["1h30m", 5_400_000],
    ["500ms", 500],
    ["2.5s", 2_500],
    ["1m30s", 90_000],
    ["0s", 0],
  ];
  for (const [text, ms] of table) it(`${text} = ${ms} ms`, () => expect(parseDuration(text)).to.equal(ms));

  for (const bad of ["", "30", "1d", "1.s", "-1s", "1 s", "s"]) {
    it(`rejects ${JSON.stringify(bad)}`, () =>
      expect(() => parseDuration(bad)).to.throw(/is not a duration/));
  }

  it("\"0\" is 0 ms, as in Go (the operator's --resync-period=0); the CRD's pattern still wants a unit", () => {
    expect(parseDuration("0")).to.equal(0);
    expect(isDuration("0")).to.equal(false);
    expect(() => parseDuration("00")).to.throw(/is not a duration/);
  });

  it("formats durations for people", () => {
    expect(formatDuration(90_000)).to.equal("1m30s");
    expect(formatDuration(500)).to.equal("500ms");
    expect(formatDuration(3_600_000)).to.equal("1h");
  });
});
