// The names of the Events the operator records: valid object names whatever the length of the
// ModelDeployment's name (up to 253 characters, the API server's limit for both).
import { expect } from "chai";
import { eventName } from "../../src/kube/client.ts";

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const now = new Date("2026-12-01T12:00:00Z");

describe("Event names", () => {
  it("are the object's name, the time and a random part, as client-go names them", () => {
    expect(eventName("fraud", now, "a1b2c3")).to.equal(`fraud.${now.getTime().toString(16)}a1b2c3`);
  });

  it("stay within 253 characters and valid for a ModelDeployment name of any allowed length", () => {
    for (const name of [
      "n".repeat(253),
      `${"n".repeat(240)}.dotted`,
      `${"a".repeat(234)}-${"b".repeat(18)}`,
      `${"a".repeat(234)}.${"b".repeat(18)}`,
    ]) {
      const event = eventName(name, now, "a1b2c3");
      expect(event.length, name).to.be.at.most(253);
      expect(event, name).to.match(SUBDOMAIN);
      expect(event.startsWith(name.slice(0, 200))).to.equal(true);
    }
  });
});
