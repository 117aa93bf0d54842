import { expect } from "chai";
import {
  compareResourceVersions,
  isOrderedResourceVersion,
  olderThan,
} from "../../src/kube/resource-version.ts";

describe("resourceVersion order", () => {
  it("orders decimal resourceVersions by number, not as text", () => {
    expect(compareResourceVersions("9", "10")).to.equal(-1);
    expect(compareResourceVersions("10", "9")).to.equal(1);
    expect(compareResourceVersions("123", "123")).to.equal(0);
    expect(compareResourceVersions("0", "1")).to.equal(-1);
    // Past 2^53: compared digit by digit, not through a float.
    expect(compareResourceVersions("9007199254740993", "9007199254740992")).to.equal(1);
    expect(olderThan("99", "100")).to.equal(true);
    expect(olderThan("100", "100")).to.equal(false);
  });

  it("cannot order what is not a decimal without leading zeros", () => {
    for (const rv of [undefined, "", "01", "1a", "-1", " 1", "1.0", "abc"]) {
      expect(isOrderedResourceVersion(rv), String(rv)).to.equal(false);
      expect(compareResourceVersions(rv, "5"), String(rv)).to.equal(undefined);
      expect(compareResourceVersions("5", rv), String(rv)).to.equal(undefined);
      expect(olderThan(rv, "5"), String(rv)).to.equal(false);
      expect(olderThan("5", rv), String(rv)).to.equal(false);
    }
    expect(isOrderedResourceVersion("0")).to.equal(true);
    expect(isOrderedResourceVersion("42")).to.equal(true);
  });
});
