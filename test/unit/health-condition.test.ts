// successCondition expressions: what the planner rejects as an invalid spec, and what a
// measurement's condition sees.
import { expect } from "chai";
import {
  evaluateSuccessCondition,
  successConditionCostWarning,
  validateSuccessCondition,
} from "../../src/health/condition.ts";

const http = (json: unknown, status = 200, body = JSON.stringify(json)) => ({
  status,
  body,
  json,
  headers: new Map([["content-type", "application/json"]]),
});

describe("successCondition", () => {
  describe("validateSuccessCondition (spec validation)", () => {
    it("accepts conditions over each kind's variables", () => {
      expect(validateSuccessCondition("http", "status == 200 && size(json.outputs) == 1")).to.equal(
        undefined,
      );
      expect(
        validateSuccessCondition("http", `headers["content-type"].startsWith("application/json")`),
      ).to.equal(undefined);
      expect(validateSuccessCondition("http", `body.contains("ready")`)).to.equal(undefined);
      expect(validateSuccessCondition("prometheus", "result < 0.01")).to.equal(undefined);
      expect(validateSuccessCondition("prometheus", "results.all(x, x < 0.01)")).to.equal(undefined);
    });

    it("rejects syntax errors with what is wrong", () => {
      expect(validateSuccessCondition("prometheus", "result <")).to.equal(
        "successCondition `result <` is not valid CEL: Unexpected token: EOF",
      );
    });

    it("rejects variables that the kind of check does not have", () => {
      expect(validateSuccessCondition("prometheus", "status == 200")).to.equal(
        "successCondition `status == 200` is not valid: Unknown variable: status",
      );
      expect(validateSuccessCondition("http", "result < 0.01")).to.equal(
        "successCondition `result < 0.01` is not valid: Unknown variable: result",
      );
    });

    it("a check compared with the stable version sees candidate and stable, not result", () => {
      expect(validateSuccessCondition("relative", "candidate <= stable * 1.1")).to.equal(undefined);
      expect(validateSuccessCondition("relative", "candidate - stable < 0.005")).to.equal(undefined);
      expect(validateSuccessCondition("relative", "result < 0.01")).to.equal(
        "successCondition `result < 0.01` is not valid: Unknown variable: result",
      );
      expect(validateSuccessCondition("prometheus", "candidate < stable")).to.equal(
        "successCondition `candidate < stable` is not valid: Unknown variable: candidate",
      );
    });

    it("rejects expressions that cannot be a bool", () => {
      expect(validateSuccessCondition("http", "status + 1")).to.equal(
        "successCondition `status + 1` must evaluate to a bool, not int",
      );
      expect(validateSuccessCondition("http", `status + "x"`)).to.match(
        /is not valid: no such overload: int \+ string/,
      );
    });

    it("rejects an empty expression", () => {
      expect(validateSuccessCondition("http", "  ")).to.equal("successCondition is empty");
    });
  });

  describe("successConditionCostWarning (seen before it runs)", () => {
    it("warns of a comprehension over response data nested in another", () => {
      const expensive = "json.items.all(a, json.items.all(b, json.items.exists(c, c < 0) || true))";
      expect(successConditionCostWarning("http", expensive)).to.match(
        /iterates over response data \(`json.items`\) inside another comprehension: .* square of the response's size/,
      );
      expect(successConditionCostWarning("prometheus", "results.all(x, results.exists(y, y == x))")).to.match(
        /\(`results`\) inside another comprehension/,
      );
      expect(successConditionCostWarning("http", `json.a.filter(x, body.contains(x)).size() > 0`)).to.equal(
        undefined,
        "body is not iterated",
      );
      expect(successConditionCostWarning("http", "json.a.exists(x, headers.exists(h, h == x))")).to.match(
        /\(`headers`\)/,
      );
    });

    it("accepts nesting over the outer element, which visits each value once", () => {
      for (const fine of [
        "json.outputs.all(o, o.data.all(x, x > 0))",
        "size(json.items) > 0 && json.items.all(a, a > 0)",
        "json.items.all(json, json.items.all(b, true))", // the inner json is the element
        "status == 200",
      ])
        expect(successConditionCostWarning("http", fine), fine).to.equal(undefined);
    });
  });

  describe("evaluateSuccessCondition", () => {
    it("evaluates HTTP conditions over status, body, json and headers", () => {
      const vars = http({ outputs: [{ data: [0.7, 1] }], ready: true, count: 3 });
      const holds = (expression: string) => evaluateSuccessCondition("http", expression, vars);
      expect(holds("status == 200")).to.deep.equal({ ok: true, value: true });
      expect(holds("json.outputs[0].data[0] > 0.5")).to.deep.equal({ ok: true, value: true });
      expect(holds("json.outputs[0].data[0] > 0.8")).to.deep.equal({ ok: true, value: false });
      expect(holds("json.count == 3 && json.ready")).to.deep.equal({ ok: true, value: true });
      expect(holds(`headers["content-type"] == "application/json"`)).to.deep.equal({ ok: true, value: true });
      expect(holds(`body.contains("outputs")`)).to.deep.equal({ ok: true, value: true });
      expect(holds("has(json.error)")).to.deep.equal({ ok: true, value: false });
    });

    it("reports a missing JSON field as an error, not as false", () => {
      const outcome = evaluateSuccessCondition("http", "json.predictions[0] > 0.5", http({ outputs: [] }));
      expect(outcome).to.deep.equal({
        ok: false,
        error:
          "successCondition `json.predictions[0] > 0.5` could not be evaluated: No such key: predictions",
      });
    });

    it("reports a non-bool result as an error", () => {
      const outcome = evaluateSuccessCondition("http", "json.name", http({ name: "fraud" }));
      expect(outcome).to.deep.equal({
        ok: false,
        error: 'successCondition `json.name` must evaluate to a bool, got string ("fraud")',
      });
    });

    it("evaluates Prometheus conditions over one value", () => {
      const vars = { result: 0.002, results: [0.002] };
      expect(evaluateSuccessCondition("prometheus", "result < 0.01", vars)).to.deep.equal({
        ok: true,
        value: true,
      });
      expect(evaluateSuccessCondition("prometheus", "result < 1", vars)).to.deep.equal({
        ok: true,
        value: true,
      });
      expect(evaluateSuccessCondition("prometheus", "result > 0.01", vars)).to.deep.equal({
        ok: true,
        value: false,
      });
    });

    it("gives a list as result when the query returned several values", () => {
      const vars = { result: [0.001, 0.2], results: [0.001, 0.2] };
      expect(evaluateSuccessCondition("prometheus", "result.all(x, x < 0.01)", vars)).to.deep.equal({
        ok: true,
        value: false,
      });
      expect(evaluateSuccessCondition("prometheus", "results.exists(x, x < 0.01)", vars)).to.deep.equal({
        ok: true,
        value: true,
      });
      const scalarCompare = evaluateSuccessCondition("prometheus", "result < 0.01", vars);
      expect(scalarCompare.ok).to.equal(false);
    });

    it("compares infinities as numbers", () => {
      const vars = { result: Infinity, results: [Infinity] };
      expect(evaluateSuccessCondition("prometheus", "result < 0.05", vars)).to.deep.equal({
        ok: true,
        value: false,
      });
    });

    it("reuses the compiled program and gives the same answer for new variables", () => {
      const expression = "result <= 0.5";
      expect(
        evaluateSuccessCondition("prometheus", expression, { result: 0.5, results: [0.5] }),
      ).to.deep.equal({
        ok: true,
        value: true,
      });
      expect(
        evaluateSuccessCondition("prometheus", expression, { result: 0.6, results: [0.6] }),
      ).to.deep.equal({
        ok: true,
        value: false,
      });
    });
  });
});
