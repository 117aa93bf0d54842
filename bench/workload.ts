// The ModelDeployments the benchmark creates: the smallest real ones (1 replica, one
// container, a clients' Service), as a platform team running many models would have.
import type { KubernetesObject } from "@kubernetes/client-node";

export function benchModelDeployment(
  name: string,
  version: string,
  strategy: "canary" | "blueGreen" = "canary",
): KubernetesObject & { spec: Record<string, unknown> } {
  return {
    apiVersion: "mlops.dev/v1alpha1",
    kind: "ModelDeployment",
    metadata: { name },
    spec: {
      model: { version, uri: `s3://models/${name}/${version}`, format: "sklearn" },
      replicas: 1,
      template: {
        metadata: { labels: { app: name } },
        spec: {
          containers: [
            {
              name: "server",
              image: `registry.example/model-server:${version}`,
              ports: [{ name: "http", containerPort: 8080 }],
            },
          ],
        },
      },
      service: { port: 80, targetPort: "http" },
      strategy:
        strategy === "canary"
          ? { canary: { steps: [{ setWeight: 50 }] } }
          : { blueGreen: { autoPromotionSeconds: 0, scaleDownDelaySeconds: 0 } },
    },
  };
}

/** md-00000, md-00001, ...: sortable names. */
export function mdName(i: number): string {
  return `md-${String(i).padStart(5, "0")}`;
}
