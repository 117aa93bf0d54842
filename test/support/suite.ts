// The fixture of an e2e suite whose tests run model servers: one operator for the suite, a
// namespace (one for the whole suite, or a fresh one for each test), and the model servers
// the tests start, each stopped before its namespace goes. Called inside a describe(): it
// adds the suite's before/after hooks (and beforeEach/afterEach with a namespace per test).
import { createNamespace } from "./kube.ts";
import type { ModelServer } from "./model-server.ts";
import { startOperator, type OperatorProcess } from "./operator.ts";

export interface ModelSuiteOptions {
  /**
   * One namespace for the whole suite, named from this prefix; absent: a fresh namespace for
   * each test (named from its title), its servers stopped after it.
   */
  namespace?: string;
  /** Flags of the suite's operator, beside the tests' usual ones (support/operator.ts). */
  operatorArgs?: string[];
}

export class ModelSuite {
  /** Flags of every operator the suite starts (ModelSuiteOptions.operatorArgs). */
  readonly #operatorArgs: string[] | undefined;
  #operator: OperatorProcess | undefined;
  #ns: string | undefined;
  #cleanup: (() => Promise<void>) | undefined;
  /** The model servers a test started (serveVersion, serveService): stopped before the namespace goes. */
  readonly servers: ModelServer[] = [];

  constructor(operatorArgs?: string[]) {
    this.#operatorArgs = operatorArgs;
  }

  /** The operator of the suite (the one startOperator() started last). */
  get operator(): OperatorProcess {
    if (!this.#operator) throw new Error("the suite's operator is not running: used outside a test?");
    return this.#operator;
  }

  /** The namespace of the suite, or of the current test. */
  get ns(): string {
    if (this.#ns === undefined) throw new Error("no namespace: used outside a test?");
    return this.#ns;
  }

  /**
   * Starts an operator, with the suite's flags, that the suite stops at its end (a test that
   * stopped the previous one starts the next).
   */
  async startOperator(): Promise<OperatorProcess> {
    this.#operator = await startOperator({ args: this.#operatorArgs });
    return this.#operator;
  }

  async stopOperator(): Promise<void> {
    await this.#operator?.stop();
  }

  async createNamespace(prefix: string): Promise<void> {
    ({ name: this.#ns, cleanup: this.#cleanup } = await createNamespace(prefix));
  }

  /** Stops the servers, then deletes the namespace. */
  async endNamespace(): Promise<void> {
    await this.stopServers();
    await this.#cleanup?.();
    this.#cleanup = undefined;
    this.#ns = undefined;
  }

  async stopServers(): Promise<void> {
    await Promise.all(this.servers.splice(0).map((s) => s.stop()));
  }
}

/** The operator, namespace(s) and model servers of the current describe(), started and stopped by its hooks. */
export function useModelSuite(options: ModelSuiteOptions = {}): ModelSuite {
  const suite = new ModelSuite(options.operatorArgs);
  const shared = options.namespace;
  before(async () => {
    await suite.startOperator();
    if (shared !== undefined) await suite.createNamespace(shared);
  });
  after(async () => {
    await suite.stopServers();
    await suite.stopOperator();
    if (shared !== undefined) await suite.endNamespace();
  });
  if (shared === undefined) {
    beforeEach(async function () {
      await suite.createNamespace(this.currentTest?.title.slice(0, 20) ?? "t");
    });
    afterEach(async () => suite.endNamespace());
  }
  return suite;
}
