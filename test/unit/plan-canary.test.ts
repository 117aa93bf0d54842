// Replica arithmetic: traffic through plain Services splits by ready replicas.
import { expect } from "chai";
import { computeBlueGreenPreview, computeCanaryReplicas, computeStepPlan } from "../../src/plan/index.ts";
import { makeMd } from "./plan-fixtures.ts";

describe("plan: canary replica math", () => {
  const table: { total: number; weight: number; candidate: number; stableMin: number }[] = [
    { total: 10, weight: 20, candidate: 2, stableMin: 8 },
    { total: 3, weight: 50, candidate: 2, stableMin: 2 },
    { total: 4, weight: 25, candidate: 1, stableMin: 3 },
    { total: 4, weight: 20, candidate: 1, stableMin: 4 },
    { total: 10, weight: 0, candidate: 0, stableMin: 10 },
    { total: 10, weight: 100, candidate: 10, stableMin: 0 },
    { total: 1, weight: 1, candidate: 1, stableMin: 1 },
    { total: 0, weight: 50, candidate: 0, stableMin: 0 },
  ];
  for (const row of table) {
    it(`${row.weight}% of ${row.total} replicas = ${row.candidate} new, at least ${row.stableMin} old`, () => {
      expect(computeCanaryReplicas(row.total, row.weight)).to.deep.equal({
        candidate: row.candidate,
        stableMin: row.stableMin,
      });
    });
  }

  it("previews every canary step for the plugin's plan command", () => {
    const md = makeMd({
      replicas: 10,
      strategy: {
        canary: {
          steps: [{ setWeight: 20 }, { pause: { duration: "30s" } }, { setWeight: 50 }, { pause: {} }],
        },
      },
    });
    expect(computeStepPlan(md)).to.deep.equal([
      { index: 0, kind: "setWeight", weight: 20, candidateReplicas: 2, stableReplicas: 8 },
      {
        index: 1,
        kind: "pause",
        weight: 20,
        candidateReplicas: 2,
        stableReplicas: 8,
        pause: "30s",
        pauseMs: 30_000,
      },
      { index: 2, kind: "setWeight", weight: 50, candidateReplicas: 5, stableReplicas: 5 },
      {
        index: 3,
        kind: "pause",
        weight: 50,
        candidateReplicas: 5,
        stableReplicas: 5,
        pause: "until promote",
      },
    ]);
    expect(computeBlueGreenPreview(md)).to.equal(undefined);
  });

  it("previews a blue/green rollout", () => {
    const md = makeMd({
      replicas: 4,
      strategy: { blueGreen: { previewReplicas: 1, autoPromotionSeconds: 30, scaleDownDelaySeconds: 60 } },
    });
    const preview = computeBlueGreenPreview(md);
    expect(preview).to.include({
      replicas: 4,
      previewReplicas: 1,
      autoPromotionSeconds: 30,
      scaleDownDelaySeconds: 60,
    });
    expect(
      preview?.stages.map((s) => [s.stage, s.candidateReplicas, s.stableReplicas, s.weight]),
    ).to.deep.equal([
      ["preview", 1, 4, 0],
      ["scale-up", 4, 4, 0],
      ["switch", 4, 4, 100],
      ["scale-down", 4, 0, 100],
    ]);
    expect(computeStepPlan(md)).to.deep.equal([]);
    const full = computeBlueGreenPreview(makeMd({ replicas: 2, strategy: { blueGreen: {} } }));
    expect(full?.stages.map((s) => s.stage)).to.deep.equal(["preview", "switch", "scale-down"]);
    expect(full?.scaleDownDelaySeconds).to.equal(30);
    expect(full?.stages[1]?.when).to.equal("on a promote action");
  });
});
