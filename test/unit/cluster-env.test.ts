// The control plane components' environment (test/cluster/cluster.ts): the benchmark's tuned
// cluster traces the API server's and etcd's collections and lets the API server's heap grow
// further between them; the tests' clusters run every component as Go's defaults have it.
import { expect } from "chai";
import { componentEnv, TUNED_API_SERVER_GC } from "../cluster/cluster.ts";

describe("cluster component environment", () => {
  const base = { PATH: "/usr/bin", HOME: "/root" };

  it("leaves every component of an untuned cluster with the caller's environment", () => {
    for (const name of ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"])
      expect(componentEnv(name, false, base), name).to.deep.equal(base);
  });

  it("tunes the API server's collector in a tuned cluster, and traces its collections and etcd's", () => {
    expect(componentEnv("kube-apiserver", true, base)).to.deep.equal({
      ...base,
      GODEBUG: "gctrace=1",
      GOGC: "400",
      GOMEMLIMIT: "8GiB",
    });
    expect(TUNED_API_SERVER_GC).to.deep.equal({ GOGC: "400", GOMEMLIMIT: "8GiB" });
    expect(componentEnv("etcd", true, base)).to.deep.equal({ ...base, GODEBUG: "gctrace=1" });
    expect(componentEnv("kube-controller-manager", true, base)).to.deep.equal(base);
  });
});
