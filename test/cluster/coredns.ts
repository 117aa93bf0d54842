// The local control plane's cluster DNS: CoreDNS (built by `hack/build-tools.sh coredns`
// with the bind, errors, log, rewrite and kubernetes plugins) answering Service names
// from the local API server, as kube-dns does in a cluster:
//
//   NAME.NAMESPACE.svc.cluster.local  and  NAME.NAMESPACE.svc  ->  the Service's ClusterIP
//
// The short form is what a pod's resolver turns into the long one through its search
// list; here CoreDNS itself rewrites it (rewrite plugin), so a client outside a cluster
// (the operator with --check-dns-server, a test) resolves the names a pod would. Names
// outside cluster.local get no answer: nothing is forwarded anywhere.
//
// CoreDNS reads the API server as its own user, mro-coredns, with the rights the
// CoreDNS Deployment of a cluster has (list and watch Services, EndpointSlices,
// Namespaces) and no more.
import { resolveLoopback } from "../support/loopback-guard.ts";

/** The user CoreDNS authenticates as (its client certificate's CN). */
export const COREDNS_USER = "mro-coredns";

/** The cluster domain, as kubelet's --cluster-domain would say. */
export const CLUSTER_DOMAIN = "cluster.local";

/** The RBAC objects that give COREDNS_USER what CoreDNS's kubernetes plugin reads. */
export function corednsRbac(): object[] {
  return [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "mro:coredns" },
      rules: [
        { apiGroups: [""], resources: ["services", "namespaces"], verbs: ["list", "watch"] },
        { apiGroups: ["discovery.k8s.io"], resources: ["endpointslices"], verbs: ["list", "watch"] },
      ],
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "mro:coredns" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "mro:coredns" },
      subjects: [{ apiGroup: "rbac.authorization.k8s.io", kind: "User", name: COREDNS_USER }],
    },
  ];
}

/**
 * The Corefile: one server on 127.0.0.1:port only (bind; without it CoreDNS listens on
 * every interface), the short `.svc` names rewritten to the cluster domain and back in
 * the answer, Services from the API server through kubeconfig.
 */
export function corefile(port: number, kubeconfig: string): string {
  return `.:${port} {
    bind 127.0.0.1
    errors
    log
    rewrite name suffix .svc. .svc.${CLUSTER_DOMAIN}. answer auto
    kubernetes ${CLUSTER_DOMAIN} {
        kubeconfig ${kubeconfig} mro-local
        ttl 1
    }
}
`;
}

/**
 * Resolves when CoreDNS answers for the API server's own Service, kubernetes.default,
 * with its ClusterIP: then its caches of Services are synced.
 */
export async function corednsAnswers(server: string, expectedIp: string): Promise<boolean> {
  return (await resolveLoopback(`kubernetes.default.svc.${CLUSTER_DOMAIN}`, server)) === expectedIp;
}
