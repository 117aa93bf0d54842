import { expect } from "chai";

describe("toolchain", () => {
  it("runs on Node >= 22.19", () => {
    const [major, minor] = process.versions.node.split(".").map(Number) as [number, number];
    expect(major > 22 || (major === 22 && minor >= 19)).to.equal(true);
  });
});
