// Which destinations' responses a check's messages may quote: the measured version's own
// Service (NAME-V.NAMESPACE.svc[.cluster.local], the default target), or any with the
// platform's opt-in.
import { expect } from "chai";
import { computeDueCheck, computeCheckVars } from "../../src/plan/checks.ts";
import { isOwnService, mayQuoteResponse } from "../../src/health/reveal.ts";
import { httpCheck, makeMd } from "./plan-fixtures.ts";

describe("what a check may reveal", () => {
  const md = makeMd({ model: { version: "2.0.0" } });
  const vars = computeCheckVars(md, "2.0.0");
  const due = (url?: string) => computeDueCheck(md, httpCheck("c", url ? { http: { url } } : {}), vars);

  it("treats the default target and a url naming the version's own Service as its own", () => {
    expect(vars.service).to.equal("fraud-detector-2-0-0");
    expect(due().url).to.equal("http://fraud-detector-2-0-0.models.svc:80/v2/models/fraud-detector/ready");
    expect(isOwnService(due())).to.equal(true);
    expect(isOwnService(due("http://fraud-detector-2-0-0.models.svc.cluster.local:8080/x"))).to.equal(true);
    expect(isOwnService(due("http://{{service}}.{{namespace}}.svc/ready"))).to.equal(true);
    expect(isOwnService(due("http://FRAUD-DETECTOR-2-0-0.models.svc./ready"))).to.equal(true);
  });

  it("treats every other destination as not its own", () => {
    for (const url of [
      "http://fraud-detector-1-0-0.models.svc/ready", // the stable version
      "http://fraud-detector-2-0-0.other.svc/ready", // another namespace
      "http://fraud-detector.models.svc/ready", // the clients' Service
      "http://169.254.169.254/latest/meta-data/",
      "http://127.0.0.1:8080/ready",
      "http://fraud-detector-2-0-0.models.svc.evil.example/ready",
      "http://prometheus.monitoring:9090",
    ])
      expect(isOwnService(due(url)), url).to.equal(false);
  });

  it("quotes every destination only with the platform's opt-in", () => {
    const other = due("http://admin.internal:9000/");
    expect(mayQuoteResponse(other)).to.equal(false);
    expect(mayQuoteResponse(other, "own-service")).to.equal(false);
    expect(mayQuoteResponse(other, "all")).to.equal(true);
    expect(mayQuoteResponse(due())).to.equal(true);
  });
});
