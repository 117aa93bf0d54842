// Which status changes may wait for the Deployment's status, and which may be written
// together with the children: one row per kind of change.
import { expect } from "chai";
import type { V1Deployment } from "@kubernetes/client-node";
import type { ModelDeploymentStatus } from "../../src/api/types.ts";
import {
  changedStatusFields,
  endpointsAheadOfDeployments,
  progressOnly,
  recordsOnly,
} from "../../src/controller/status-write.ts";

const waiting: ModelDeploymentStatus = {
  observedGeneration: 1,
  phase: "Progressing",
  stableVersion: "1",
  replicas: 1,
  message: "waiting for 1 to be Available at 2 replica(s): 1 available",
  traffic: [{ version: "1", weight: 100, readyEndpoints: 1 }],
  conditions: [
    {
      type: "Ready",
      status: "False",
      reason: "WaitingForAvailable",
      message: "waiting for 1 to be Available at 2 replica(s): 1 available",
      observedGeneration: 1,
      lastTransitionTime: "2026-03-01T10:00:00Z",
    },
  ],
  history: [{ version: "1", outcome: "Promoted", time: "2026-03-01T09:00:00Z" }],
};

const change = (f: (s: ModelDeploymentStatus) => void): ModelDeploymentStatus => {
  const s = JSON.parse(JSON.stringify(waiting)) as ModelDeploymentStatus;
  f(s);
  return s;
};

describe("status writes: kinds of change", () => {
  const rows: { what: string; next: ModelDeploymentStatus; progress: boolean; records: boolean }[] = [
    {
      what: "ready endpoints and weights",
      next: change((s) => (s.traffic = [{ version: "1", weight: 100, readyEndpoints: 2 }])),
      progress: true,
      records: true,
    },
    {
      what: "ready replicas and the counts in messages",
      next: change((s) => {
        s.replicas = 2;
        s.message = "waiting for 1 to be Available at 2 replica(s): 2 available";
        s.conditions![0]!.message = s.message;
      }),
      progress: true,
      records: true,
    },
    {
      what: "the pods under maxSurge/maxUnavailable",
      next: change(
        (s) =>
          (s.capacity = {
            maxPods: 4,
            minReadyPods: 3,
            pods: 4,
            readyPods: 3,
            unavailable: 1,
            message: "every version is at its size",
          }),
      ),
      progress: true,
      records: true,
    },
    {
      what: "a condition that flips",
      next: change((s) => {
        s.conditions![0]!.status = "True";
        s.conditions![0]!.reason = "Ready";
      }),
      progress: false,
      records: true,
    },
    {
      what: "the phase",
      next: change((s) => (s.phase = "Healthy")),
      progress: false,
      records: true,
    },
    {
      what: "observedGeneration (a spec change seen)",
      next: change((s) => (s.observedGeneration = 2)),
      progress: false,
      records: true,
    },
    {
      what: "a rollout started (the rollout's memory)",
      next: change((s) => (s.rollout = { version: "2", revision: "r2", startedAt: "2026-03-01T10:01:00Z" })),
      progress: false,
      records: false,
    },
    {
      what: "a promotion (stableVersion, history)",
      next: change((s) => {
        s.stableVersion = "2";
        s.history = [{ version: "2", outcome: "Promoted", time: "2026-03-01T10:02:00Z" }, ...s.history!];
      }),
      progress: false,
      records: false,
    },
    {
      what: "traffic together with a step",
      next: change((s) => {
        s.traffic = [{ version: "1", weight: 100, readyEndpoints: 2 }];
        s.currentStep = 1;
      }),
      progress: false,
      records: false,
    },
  ];
  for (const row of rows) {
    it(`${row.what}: ${row.progress ? "progress" : "not progress"}, ${row.records ? "records only" : "a decision"}`, () => {
      const changed = changedStatusFields(waiting, row.next);
      expect(changed.length).to.be.greaterThan(0);
      expect(progressOnly(waiting, row.next, changed)).to.equal(row.progress);
      expect(recordsOnly(changed)).to.equal(row.records);
    });
  }

  it("nothing changed is neither progress to hold nor a write", () => {
    expect(
      changedStatusFields(
        waiting,
        change(() => {}),
      ),
    ).to.deep.equal([]);
    expect(
      progressOnly(
        waiting,
        change(() => {}),
      ),
    ).to.equal(false);
  });

  it("endpoints are ahead of a Deployment that reports fewer ready replicas, not of one that reports as many or more", () => {
    const dep = (ready: number): V1Deployment => ({
      metadata: { name: "m-1", labels: { "mlops.dev/model": "m", "mlops.dev/version": "1" } },
      status: { readyReplicas: ready },
    });
    const status = (ready: number): ModelDeploymentStatus => ({
      traffic: [{ version: "1", weight: ready ? 100 : 0, readyEndpoints: ready }],
    });
    const observed = (ready: number) => ({ deployments: [dep(ready)], services: [], endpointSlices: [] });
    expect(endpointsAheadOfDeployments(observed(1), "m", status(2))).to.equal(true);
    expect(endpointsAheadOfDeployments(observed(2), "m", status(2))).to.equal(false);
    expect(endpointsAheadOfDeployments(observed(2), "m", status(1))).to.equal(false);
    expect(endpointsAheadOfDeployments(observed(0), "m", status(0))).to.equal(false);
    // Another model's Deployment of the same version does not count.
    expect(endpointsAheadOfDeployments(observed(2), "other", status(1))).to.equal(true);
  });

  it("an adopted Deployment's pods in status.traffic are no version whose Deployment lags", () => {
    const adopting: ModelDeploymentStatus = {
      adoption: { deployment: "legacy", originalReplicas: 2, phase: "RolledBack" },
      traffic: [{ version: "deployment/legacy", weight: 100, readyEndpoints: 2 }],
    };
    const observed = { deployments: [], services: [], endpointSlices: [] };
    expect(endpointsAheadOfDeployments(observed, "m", adopting)).to.equal(false);
  });
});
