// The API types, generated from the CRD (the one source of truth): see hack/generate-types.ts.
export type * from "./generated/types.ts";
