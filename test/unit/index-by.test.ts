import { expect } from "chai";
import type { KubernetesObject } from "@kubernetes/client-node";
import { controllerUid, IndexBy, serviceKeyOfSlice } from "../../src/controller/index-by.ts";

const child = (name: string, uid?: string): KubernetesObject => ({
  metadata: {
    namespace: "ns",
    name,
    ownerReferences: uid ? [{ apiVersion: "v1", kind: "X", name: "o", uid, controller: true }] : [],
  },
});

describe("IndexBy (children by owner)", () => {
  it("finds objects under their key through adds, updates and deletes", () => {
    const index = new IndexBy(controllerUid);
    const h = index.handlers;
    h.add!(child("a", "u1"));
    h.add!(child("b", "u1"));
    h.add!(child("c", "u2"));
    h.add!(child("orphan"));
    expect(index.get("u1").map((o) => o.metadata?.name)).to.have.members(["a", "b"]);
    h.update!(child("b", "u1"), child("b", "u2"));
    expect(index.get("u1").map((o) => o.metadata?.name)).to.deep.equal(["a"]);
    expect(index.get("u2").map((o) => o.metadata?.name)).to.have.members(["b", "c"]);
    h.delete!(child("a", "u1"));
    expect(index.get("u1")).to.deep.equal([]);
    h.update!(child("c", "u2"), child("c"));
    expect(index.get("u2").map((o) => o.metadata?.name)).to.deep.equal(["b"]);
  });

  it("keys an EndpointSlice by the namespace and name of its Service", () => {
    const slice = {
      metadata: { namespace: "ns", name: "m-abcde", labels: { "kubernetes.io/service-name": "m" } },
    };
    expect(serviceKeyOfSlice(slice)).to.equal("ns/m");
    expect(serviceKeyOfSlice({ metadata: { namespace: "ns", name: "x" } })).to.equal(undefined);
  });
});
