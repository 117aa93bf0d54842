// Prediction agreement, the pure comparison: tolerances (numpy.isclose's rule), NaN and
// infinities, shapes and datatypes that differ, labels, plain JSON answers, request sets.
import { expect } from "chai";
import {
  compareJson,
  compareOipOutputs,
  DEFAULT_TOLERANCE,
  MAX_AGREEMENT_REQUESTS,
  numbersAgree,
  parseAnswer,
  readOipOutputs,
  readRequestSet,
  resolvePointer,
  type OipOutput,
} from "../../src/health/agreement.ts";

const outputs = (...tensors: Partial<OipOutput>[]) => {
  const read = readOipOutputs({
    outputs: tensors.map((t) => ({ name: "score", datatype: "FP32", shape: [1, 1], data: [0.5], ...t })),
  });
  if (typeof read === "string") throw new Error(read);
  return read;
};

describe("prediction agreement: comparing answers", () => {
  describe("numbers (|candidate - stable| <= absolute + relative * |stable|)", () => {
    it("agree within the default tolerance of numpy.isclose (atol 1e-8, rtol 1e-5)", () => {
      // numpy.isclose(100.0, 100.0009) is True: 0.0009 <= 1e-8 + 1e-5 * 100 = 0.00100001
      expect(numbersAgree(100, 100.0009, DEFAULT_TOLERANCE)).to.equal(true);
      // numpy.isclose(100.0, 100.0011) is False
      expect(numbersAgree(100, 100.0011, DEFAULT_TOLERANCE)).to.equal(false);
      // Near zero only the absolute part counts: numpy.isclose(0.0, 1e-9) True, (0.0, 1e-7) False.
      expect(numbersAgree(0, 1e-9, DEFAULT_TOLERANCE)).to.equal(true);
      expect(numbersAgree(0, 1e-7, DEFAULT_TOLERANCE)).to.equal(false);
    });

    it("take the relative part from the stable value, as numpy.isclose(candidate, stable) does", () => {
      const t = { absolute: 0, relative: 0.1 };
      expect(numbersAgree(10, 11, t)).to.equal(true); // 1 <= 0.1 * 10
      expect(numbersAgree(1, 1.11, t)).to.equal(false); // 0.11 > 0.1 * 1
    });

    it("NaN agrees with NaN only; an infinity only with the same infinity", () => {
      expect(numbersAgree(NaN, NaN, DEFAULT_TOLERANCE)).to.equal(true);
      expect(numbersAgree(NaN, 0, DEFAULT_TOLERANCE)).to.equal(false);
      expect(numbersAgree(0, NaN, DEFAULT_TOLERANCE)).to.equal(false);
      expect(numbersAgree(Infinity, Infinity, DEFAULT_TOLERANCE)).to.equal(true);
      expect(numbersAgree(Infinity, -Infinity, DEFAULT_TOLERANCE)).to.equal(false);
      expect(numbersAgree(Infinity, 1e308, { absolute: 1e308, relative: 1 })).to.equal(false);
    });
  });

  describe("Open Inference Protocol outputs", () => {
    it("agree when every output of the stable version is there with data within tolerance", () => {
      expect(
        compareOipOutputs(outputs({ data: [0.5] }), outputs({ data: [0.500001] }), DEFAULT_TOLERANCE),
      ).to.deep.equal({ agree: true });
    });

    it("name the output, the element and the difference when a score is beyond tolerance", () => {
      expect(
        compareOipOutputs(
          outputs({ shape: [1, 2], data: [0.5, 0.25] }),
          outputs({ shape: [1, 2], data: [0.5, 0.3] }),
          DEFAULT_TOLERANCE,
        ),
      ).to.deep.equal({
        agree: false,
        reason:
          "output score [1]: 0.25 in the stable version, 0.3 in the new one (difference 0.05, tolerance 2.51e-6)",
      });
    });

    it("compare labels (BYTES) and class ids (INT64) exactly, whatever the tolerance", () => {
      const loose = { absolute: 10, relative: 10 };
      expect(
        compareOipOutputs(
          outputs({ name: "label", datatype: "BYTES", data: ["fraud"] }),
          outputs({ name: "label", datatype: "BYTES", data: ["legit"] }),
          loose,
        ),
      ).to.deep.equal({
        agree: false,
        reason: 'output label [0]: "fraud" in the stable version, "legit" in the new one',
      });
      expect(
        compareOipOutputs(
          outputs({ name: "class", datatype: "INT64", data: [3] }),
          outputs({ name: "class", datatype: "INT64", data: [4] }),
          loose,
        ),
      ).to.deep.equal({
        agree: false,
        reason: "output class [0]: 3 in the stable version, 4 in the new one",
      });
      expect(
        compareOipOutputs(
          outputs({ name: "label", datatype: "BYTES", data: ["fraud"] }),
          outputs({ name: "label", datatype: "BYTES", data: ["fraud"] }),
          DEFAULT_TOLERANCE,
        ),
      ).to.deep.equal({ agree: true });
    });

    it("disagree when the shape, the datatype or the number of values differs", () => {
      expect(
        compareOipOutputs(outputs({}), outputs({ shape: [1, 2], data: [0.5, 0.5] }), DEFAULT_TOLERANCE),
      ).to.deep.equal({
        agree: false,
        reason: "output score: shape [1, 1] in the stable version, [1, 2] in the new one",
      });
      expect(compareOipOutputs(outputs({}), outputs({ datatype: "FP64" }), DEFAULT_TOLERANCE)).to.deep.equal({
        agree: false,
        reason: "output score: datatype FP32 in the stable version, FP64 in the new one",
      });
      expect(compareOipOutputs(outputs({}), outputs({ data: [0.5, 0.5] }), DEFAULT_TOLERANCE)).to.deep.equal({
        agree: false,
        reason: "output score: 1 values in the stable version, 2 in the new one",
      });
    });

    it("reads nested data row-major, and NaN or infinities written as strings in a floating-point tensor", () => {
      expect(
        compareOipOutputs(
          outputs({
            shape: [2, 2],
            data: [
              [1, "NaN"],
              ["inf", 4],
            ] as unknown[],
          }),
          outputs({ shape: [2, 2], data: [1, NaN, Infinity, 4] }),
          DEFAULT_TOLERANCE,
        ),
      ).to.deep.equal({ agree: true });
      expect(
        compareOipOutputs(outputs({ data: ["NaN"] }), outputs({ data: [0.5] }), DEFAULT_TOLERANCE),
      ).to.deep.equal({
        agree: false,
        reason: "output score [0]: NaN in the stable version, 0.5 in the new one",
      });
    });

    it("needs the stable version's outputs (or those named) in the new answer; ignores outputs only the new one has", () => {
      const stable = outputs({ name: "score" }, { name: "label", datatype: "BYTES", data: ["a"] });
      const candidate = outputs({ name: "score" }, { name: "extra", data: [9] });
      expect(compareOipOutputs(stable, candidate, DEFAULT_TOLERANCE)).to.deep.equal({
        agree: false,
        reason: "output label is missing in the new version's answer",
      });
      expect(compareOipOutputs(stable, candidate, DEFAULT_TOLERANCE, ["score"])).to.deep.equal({
        agree: true,
      });
    });

    it("says what is wrong with an answer that is no inference answer", () => {
      expect(readOipOutputs({ predictions: [1] })).to.equal(
        "is not an Open Inference Protocol inference answer (an object with an outputs list)",
      );
      expect(readOipOutputs({ outputs: [{ name: "score" }] })).to.equal(
        "has an output score without a data list",
      );
    });
  });

  describe("plain JSON answers", () => {
    it("compare numbers within tolerance and strings exactly, naming the place as a JSON Pointer", () => {
      expect(
        compareJson({ predictions: [0.5, "a"] }, { predictions: [0.5000001, "a"] }, DEFAULT_TOLERANCE),
      ).to.deep.equal({
        agree: true,
      });
      expect(
        compareJson({ predictions: [0.5, "a"] }, { predictions: [0.5, "b"] }, DEFAULT_TOLERANCE),
      ).to.deep.equal({
        agree: false,
        reason: '/predictions/1: "a" in the stable version, "b" in the new one',
      });
      expect(compareJson([1, 2], [1, 2, 3], DEFAULT_TOLERANCE)).to.deep.equal({
        agree: false,
        reason: "the answer: a list of 2 in the stable version, of 3 in the new one",
      });
      expect(compareJson({ a: 1 }, { a: 1, b: 2 }, DEFAULT_TOLERANCE)).to.deep.equal({
        agree: false,
        reason: "/b is only in the new version's answer",
      });
      expect(compareJson({ a: null }, { a: 0 }, DEFAULT_TOLERANCE)).to.deep.equal({
        agree: false,
        reason: "/a: null in the stable version, 0 in the new one",
      });
    });

    it("resolves answerPath as RFC 6901 does (~1 is /, ~0 is ~)", () => {
      const answer = { "a/b": { "c~d": [10, 20] } };
      expect(resolvePointer(answer, "/a~1b/c~0d/1")).to.deep.equal({ found: true, value: 20 });
      expect(resolvePointer(answer, "/a~1b/missing")).to.deep.equal({ found: false });
      expect(resolvePointer(answer, "")).to.deep.equal({ found: true, value: answer });
    });

    it("reads NaN and Infinity as Python's json module writes them, but not inside strings", () => {
      const parsed = parseAnswer('{"outputs": [NaN, Infinity, -Infinity], "note": "NaN stays a string"}');
      expect(parsed.ok).to.equal(true);
      const value = (parsed as { value: { outputs: number[]; note: string } }).value;
      expect(Number.isNaN(value.outputs[0])).to.equal(true);
      expect(value.outputs.slice(1)).to.deep.equal([Infinity, -Infinity]);
      expect(value.note).to.equal("NaN stays a string");
      expect(parseAnswer("not json").ok).to.equal(false);
    });
  });

  describe("request sets", () => {
    const oip = { inputs: [{ name: "features", shape: [1, 1], datatype: "FP32", data: [1] }] };

    it("reads a JSON array of request bodies", () => {
      expect(readRequestSet(JSON.stringify([oip, oip]), true)).to.deep.equal([oip, oip]);
      expect(readRequestSet('[{"text": "hello"}]', false)).to.deep.equal([{ text: "hello" }]);
    });

    it("refuses an empty set, one that is not JSON or not a list, too many requests, and bodies that are no inference requests", () => {
      expect(readRequestSet("[]", true)).to.equal("is an empty list: there is nothing to compare");
      expect(readRequestSet("[{", true)).to.match(
        /^is not JSON \(.*\): write a JSON array of request bodies$/,
      );
      expect(readRequestSet('{"inputs": []}', true)).to.equal(
        "is not a JSON array of request bodies (it is an object)",
      );
      expect(readRequestSet(JSON.stringify(new Array(MAX_AGREEMENT_REQUESTS + 1).fill(oip)), true)).to.equal(
        `holds ${MAX_AGREEMENT_REQUESTS + 1} requests; at most ${MAX_AGREEMENT_REQUESTS}`,
      );
      expect(readRequestSet('[{"text": "hello"}]', true)).to.equal(
        "request 0 is not an Open Inference Protocol inference request (an object with an inputs list); for other servers use protocol JSON",
      );
      expect(readRequestSet(JSON.stringify([{ text: "x".repeat(70_000) }]), false)).to.match(
        /^request 0 is 70011 bytes as JSON; at most 64 KiB$/,
      );
    });
  });
});
