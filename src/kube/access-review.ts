// TokenReview and SubjectAccessReview requests: the API server decides whose a bearer token is
// and what that user may do, for the operator's secure /metrics (observability/metrics-auth.ts).
// The operator's ServiceAccount needs `create` on tokenreviews.authentication.k8s.io and
// subjectaccessreviews.authorization.k8s.io (the chart grants both with metrics.secure).
import type { KubeConnection } from "./kubeconfig.ts";
import { requestJson, type RequestTraffic } from "./request.ts";

export interface ReviewedUser {
  username: string;
  uid?: string;
  groups?: string[];
  extra?: Record<string, string[]>;
}

export interface KubeAccessReviewer {
  reviewToken(token: string): Promise<{ authenticated: true; user: ReviewedUser } | { authenticated: false }>;
  reviewAccess(
    user: ReviewedUser,
    verb: string,
    path: string,
  ): Promise<{ allowed: boolean; reason?: string }>;
}

interface TokenReviewStatus {
  status?: { authenticated?: boolean; user?: Partial<ReviewedUser>; error?: string };
}
interface SubjectAccessReviewStatus {
  status?: { allowed?: boolean; denied?: boolean; reason?: string; evaluationError?: string };
}

/** Reviews through the API server of `kc`; each request is given up after `timeoutMs`. */
export function kubeAccessReviewer(
  kc: KubeConnection,
  traffic: RequestTraffic,
  timeoutMs: number,
): KubeAccessReviewer {
  return {
    async reviewToken(token) {
      // No audiences: the API server checks the token against its own (a TokenRequest's default).
      const review = await requestJson<TokenReviewStatus>(
        kc,
        {
          method: "POST",
          path: "/apis/authentication.k8s.io/v1/tokenreviews",
          body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenReview", spec: { token } },
          timeoutMs,
        },
        traffic,
      );
      const user = review.status?.user;
      if (review.status?.authenticated !== true || typeof user?.username !== "string" || user.username === "")
        return { authenticated: false };
      return {
        authenticated: true,
        user: { username: user.username, uid: user.uid, groups: user.groups, extra: user.extra },
      };
    },
    async reviewAccess(user, verb, path) {
      const review = await requestJson<SubjectAccessReviewStatus>(
        kc,
        {
          method: "POST",
          path: "/apis/authorization.k8s.io/v1/subjectaccessreviews",
          body: {
            apiVersion: "authorization.k8s.io/v1",
            kind: "SubjectAccessReview",
            spec: {
              user: user.username,
              uid: user.uid,
              groups: user.groups,
              extra: user.extra,
              nonResourceAttributes: { path, verb },
            },
          },
          timeoutMs,
        },
        traffic,
      );
      // Neither allowed nor denied ("no opinion") is not allowed.
      return { allowed: review.status?.allowed === true, reason: review.status?.reason };
    },
  };
}
