// The names of the Events the operator records: valid object names whatever the length of the
// ModelDeployment's name (up to 253 characters, the API server's limit for both).
import { expect } from "chai";
import { EVENT_NOTE_MAX_BYTES, eventName, noteOf } from "../../src/kube/client.ts";

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

describe("an Event's note", () => {
  it("is cut to the API server's 1024 bytes of UTF-8 at a character boundary, not to 1024 characters", () => {
    expect(noteOf("short")).to.equal("short");
    const wide = "𐩽".repeat(600); // 4 bytes each: 600 characters, 2400 bytes
    const note = noteOf(wide);
    expect(Buffer.byteLength(note)).to.equal(EVENT_NOTE_MAX_BYTES);
    expect(note).to.equal("𐩽".repeat(256));
    expect(Buffer.byteLength(noteOf(`${"a".repeat(1023)}é`))).to.equal(1023);
  });
});
