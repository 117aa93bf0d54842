// The loopback guard refuses every address outside 127.0.0.0/8: the pod and Service
// ranges a cluster hands out, public addresses, names (which would be looked up through
// this machine's resolver), and it keeps refusing them at the socket.
//
// The private and public addresses below are only handed to the guard, which must refuse
// them before anything is sent: nothing here connects to them.
import { expect } from "chai";
import { lookup, Resolver } from "node:dns/promises";
import { createServer, type AddressInfo, connect, Socket } from "node:net";
import {
  assertLoopbackAddress,
  assertLoopbackHostPort,
  assertLoopbackUrl,
  installLoopbackGuard,
  isLoopbackAddress,
  LoopbackGuardError,
  mochaHooks,
  refusedConnections,
} from "../support/loopback-guard.ts";

const POD_IP = "10.244.0.5"; // kwok's pod range: never dialled
const OLD_SERVICE_IP = "10.96.0.1"; // the usual Service range: never dialled
const PUBLIC_IP = "8.8.8.8"; // a public resolver: never dialled

/** Runs fn and returns the refusals it caused, leaving none behind for the afterEach hook. */
async function refusalsOf(fn: () => Promise<void>): Promise<string[]> {
  const before = refusedConnections().length;
  await fn();
  const seen = refusedConnections().slice(before);
  (refusedConnections() as string[]).splice(before);
  return seen;
}

/** Connects to host:port; resolves with the error the socket ended with (or undefined on connect). */
function tryConnect(host: string, port: number): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once("error", (err) => resolve(err));
  });
}

describe("loopback guard", () => {
  before(() => {
    installLoopbackGuard();
    // The socket tests below rely on it: without it they would really try to connect.
    expect(Socket.prototype.connect.name).to.equal("guardedConnect");
  });

  it("refuses pod, Service-range and public addresses, and accepts loopback ClusterIPs", () => {
    for (const address of [POD_IP, OLD_SERVICE_IP, PUBLIC_IP, "::1", "0.0.0.0", "web.default.svc"]) {
      expect(isLoopbackAddress(address), address).to.equal(false);
      expect(() => assertLoopbackAddress(address, "a test server")).to.throw(
        LoopbackGuardError,
        /127\.0\.0\.0\/8/,
      );
    }
    for (const address of [
      "127.0.0.1",
      "127.96.0.1",
      "127.96.113.208",
      "127.255.255.254",
      "::ffff:127.96.4.2",
    ]) {
      expect(isLoopbackAddress(address), address).to.equal(true);
      expect(assertLoopbackAddress(address, "a test server")).to.equal(address);
    }
  });

  it("checks URLs and HOST:PORT targets by their address", () => {
    expect(() => assertLoopbackUrl(`http://${POD_IP}:8080/v2/models/m/ready`, "a check")).to.throw(
      LoopbackGuardError,
      /a check \(http:\/\/10\.244\.0\.5:8080\/v2\/models\/m\/ready\): "10\.244\.0\.5" is outside 127\.0\.0\.0\/8/,
    );
    expect(() => assertLoopbackUrl("http://web.default.svc/ready", "a check")).to.throw(
      LoopbackGuardError,
      /not in/,
    );
    expect(assertLoopbackUrl("http://127.96.7.8:8080/ready", "a check").port).to.equal("8080");
    expect(() => assertLoopbackHostPort(`${OLD_SERVICE_IP}:443`, "a scrape target")).to.throw(
      LoopbackGuardError,
    );
    expect(assertLoopbackHostPort("127.0.0.1:9090", "a scrape target")).to.deep.equal({
      host: "127.0.0.1",
      port: 9090,
    });
  });

  it("refuses connections to private and public addresses and to names at the socket, before anything is sent", async () => {
    for (const host of [POD_IP, OLD_SERVICE_IP, PUBLIC_IP, "web.default.svc"]) {
      let err: Error | undefined;
      const seen = await refusalsOf(async () => {
        err = await tryConnect(host, 80);
      });
      expect(err, host).to.be.instanceOf(LoopbackGuardError);
      expect(seen, host).to.have.length(1);
      expect(seen[0]).to.contain(`${host}:80`);
    }
    // fetch goes through the same sockets.
    const seen = await refusalsOf(async () => {
      const err = await fetch(`http://${POD_IP}:8080/`).then(
        () => undefined,
        (e: unknown) => e as Error & { cause?: unknown },
      );
      expect(err?.cause).to.be.instanceOf(LoopbackGuardError);
    });
    expect(seen).to.have.length(1);
  });

  it("lets connections to loopback addresses and localhost through", async () => {
    const server = createServer((s) => s.end()).listen(0, "127.0.0.1");
    await new Promise((r) => server.once("listening", r));
    const { port } = server.address() as AddressInfo;
    try {
      const seen = await refusalsOf(async () => {
        expect(await tryConnect("127.0.0.1", port)).to.equal(undefined);
        expect(await tryConnect("localhost", port)).to.equal(undefined);
      });
      expect(seen).to.deep.equal([]);
    } finally {
      server.close();
    }
  });

  it("refuses to look up names other than localhost, which would ask this machine's resolver", async () => {
    const seen = await refusalsOf(async () => {
      const err = await lookup("web.default.svc").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(LoopbackGuardError);
      expect((await lookup("localhost", { family: 4 })).address).to.equal("127.0.0.1");
    });
    expect(seen).to.deep.equal([
      "a name lookup of web.default.svc: resolve it through the cluster DNS (resolveLoopback)",
    ]);
  });

  it("refuses a DNS server outside loopback", async () => {
    const seen = await refusalsOf(async () => {
      expect(() => new Resolver().setServers([`${POD_IP}:53`])).to.throw(LoopbackGuardError);
      new Resolver().setServers(["127.0.0.1:5353"]);
    });
    expect(seen).to.have.length(1);
  });

  it("fails the test in which a refusal happened, even when the error was swallowed", async () => {
    await tryConnect(PUBLIC_IP, 443); // the error is ignored, as careless code would
    expect(() => mochaHooks.afterEach.call({ currentTest: { title: "careless" } })).to.throw(
      LoopbackGuardError,
      /refused 1 connection\(s\) during "careless":\n {2}a connection to 8\.8\.8\.8:443/,
    );
    expect(refusedConnections()).to.deep.equal([]);
  });
});
