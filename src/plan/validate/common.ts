// What every part of validation uses: the problem it reports and readers of unknown JSON.

/** One thing wrong with a ModelDeployment, at a path such as spec.strategy.canary.steps[1].pause.duration. */
export interface SpecProblem {
  path: string;
  message: string;
}

export type Obj = Record<string, unknown>;

export function join(path: string, key: string): string {
  return path ? `${path}.${key}` : key;
}

export function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

export function has(o: Obj, key: string): boolean {
  return o[key] !== undefined && o[key] !== null;
}

export function isHttpUrl(s: string): boolean {
  return s.startsWith("http://") || s.startsWith("https://");
}
