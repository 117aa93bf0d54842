// The ModelDeployment model class (generated from the CRD, on @kubernetes-models/base), for
// code that builds ModelDeployments in TypeScript: the plugin, the tests, users' own tooling.
export { ModelDeployment, type IModelDeployment } from "./generated/model.ts";
